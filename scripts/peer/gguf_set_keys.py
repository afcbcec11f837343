#!/usr/bin/env python3
"""Copies a GGUF file with metadata keys added or replaced; tensors are untouched.

  python3 gguf_set_keys.py IN.gguf OUT.gguf deepseek2.rope.scaling.type=str:yarn \
      deepseek2.rope.scaling.factor=f32:4 deepseek2.rope.scaling.original_context_length=u32:256

Types: str, f32, u32. Used by scripts/peer-refs.sh to give a generated test model settings its
generator does not write (here: YaRN rope scaling), so that llama.cpp and Kvasir read the same file.
"""
import struct, sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_str(b, o):
    n = struct.unpack_from("<Q", b, o)[0]
    return b[o + 8:o + 8 + n].decode("utf-8"), o + 8 + n


def skip_value(b, o, t):
    if t in SIZES:
        return o + SIZES[t]
    if t == 8:
        return read_str(b, o)[1]
    if t == 9:
        et, n = struct.unpack_from("<IQ", b, o)
        o += 12
        for _ in range(n):
            o = skip_value(b, o, et)
        return o
    raise ValueError(f"unknown GGUF value type {t}")


def encode(key, spec):
    kind, _, text = spec.partition(":")
    k = key.encode("utf-8")
    head = struct.pack("<Q", len(k)) + k
    if kind == "str":
        v = text.encode("utf-8")
        return head + struct.pack("<IQ", 8, len(v)) + v
    if kind == "f32":
        return head + struct.pack("<If", 6, float(text))
    if kind == "u32":
        return head + struct.pack("<II", 4, int(text))
    raise ValueError(f"unknown type {kind} (str, f32, u32)")


def main(src, dst, pairs):
    b = open(src, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and version == 3, "GGUF v3 expected"
    o = 24
    kvs, alignment = [], 32
    for _ in range(n_kv):
        start = o
        key, o = read_str(b, o)
        t = struct.unpack_from("<I", b, o)[0]
        o = skip_value(b, o + 4, t)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", b, o - 4)[0]
        kvs.append((key, b[start:o]))
    infos_start = o
    for _ in range(n_tensors):
        _, o = read_str(b, o)
        n_dims = struct.unpack_from("<I", b, o)[0]
        o += 4 + 8 * n_dims + 4 + 8
    infos = b[infos_start:o]
    data = b[(o + alignment - 1) // alignment * alignment:]
    new = dict(kvs)
    for pair in pairs:
        key, _, spec = pair.partition("=")
        new[key] = encode(key, spec)
    header = struct.pack("<4sIQQ", b"GGUF", 3, n_tensors, len(new)) + b"".join(new.values()) + infos
    header += b"\0" * ((-len(header)) % alignment)
    open(dst, "wb").write(header + data)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
