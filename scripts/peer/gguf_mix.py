#!/usr/bin/env python3
"""Writes a GGUF file whose tensors come from BASE, except those whose names contain one of the
given parts, which come from OTHER: two files make_gguf.py wrote of the same model (same seed and
shape, other --type), mixed the way llama-quantize's Q4_K_M mixes types.

  python3 gguf_mix.py BASE.gguf OTHER.gguf OUT.gguf ffn_down attn_v output.weight

Metadata comes from BASE. Used by scripts/peer-refs.sh for a mixed-type test model.
"""
import struct, sys

from gguf_set_keys import read_str, skip_value

TYPE_BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
              12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}


def parse(path):
    b = open(path, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and version == 3, path + ": GGUF v3 expected"
    o, alignment = 24, 32
    for _ in range(n_kv):
        key, o = read_str(b, o)
        t = struct.unpack_from("<I", b, o)[0]
        o = skip_value(b, o + 4, t)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", b, o - 4)[0]
    kv_end = o
    tensors = []
    for _ in range(n_tensors):
        name, o = read_str(b, o)
        n_dims = struct.unpack_from("<I", b, o)[0]
        dims = struct.unpack_from("<%dQ" % n_dims, b, o + 4)
        ttype, offset = struct.unpack_from("<IQ", b, o + 4 + 8 * n_dims)
        o += 4 + 8 * n_dims + 12
        tensors.append((name, dims, ttype, offset))
    data = (o + alignment - 1) // alignment * alignment
    out = {}
    for name, dims, ttype, offset in tensors:
        block, size = TYPE_BLOCK[ttype]
        elements = 1
        for d in dims:
            elements *= d
        out[name] = (dims, ttype, b[data + offset:data + offset + elements // block * size])
    return b[:kv_end], alignment, [t[0] for t in tensors], out


def main(base, other, dst, parts):
    head, alignment, names, mine = parse(base)
    _, _, _, theirs = parse(other)
    infos, blobs, offset = b"", [], 0
    for name in names:
        dims, ttype, blob = theirs[name] if any(p in name for p in parts) else mine[name]
        n = name.encode("utf-8")
        infos += struct.pack("<Q", len(n)) + n + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims)
        infos += struct.pack("<IQ", ttype, offset)
        pad = b"\0" * ((-len(blob)) % alignment)
        blobs.append(blob + pad)
        offset += len(blob) + len(pad)
    header = head + infos
    header += b"\0" * ((-len(header)) % alignment)
    open(dst, "wb").write(header + b"".join(blobs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
