#!/usr/bin/env python3
"""Rewrites a GGUF model's embedded vocabulary as a GPT-2 style byte-level BPE one (tokenizer.ggml.model
"gpt2", as Llama 3 and Qwen2 files carry), so llama.cpp's BPE tokenizer can serve as the reference for
Kvasir's. The vocabulary is trained here: 256 byte symbols, merges learned from a fixed text until the
model's vocabulary size is reached (3 slots kept for special tokens). Tensors are copied unchanged.

usage: gpt2_vocab.py IN.gguf OUT.gguf [--pre llama-bpe]
"""
import argparse, collections, re, struct

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

CORPUS = ("The model reads the cache. The cache holds keys and values for every layer of the model. "
          "Tensors, vectors and matrices: a quantized block of 32 weights. Hello world! It's 2026; "
          "they've said we'll see. Java runs the engine, llama runs the tokenizer.\n" * 3
          + " ".join(a + b + c for a in "etaoinshr" for b in "aeiou" for c in "tnslr"))

def train(vocab_size):
    b2u = bytes_to_unicode()
    words = collections.Counter(re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", CORPUS))
    splits = {w: [b2u[b] for b in w.encode()] for w in words}
    tokens = [b2u[b] for b in range(256)]
    merges = []
    while len(tokens) < vocab_size:
        pairs = collections.Counter()
        for w, n in words.items():
            s = splits[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(a + " " + b); tokens.append(a + b)
        for w in words:
            s, out, i = splits[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b); i += 2
                else:
                    out.append(s[i]); i += 1
            splits[w] = out
    return tokens, merges

# ---- minimal GGUF read/write (v3): metadata values are kept as raw bytes except the ones replaced
def read_str(d, o):
    n = struct.unpack_from("<Q", d, o)[0]; return d[o + 8:o + 8 + n].decode(), o + 8 + n

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

def skip_value(d, o, t):
    if t == 8: return read_str(d, o)[1]
    if t == 9:
        et, n = struct.unpack_from("<IQ", d, o); o += 12
        for _ in range(n): o = skip_value(d, o, et)
        return o
    return o + SIZES[t]

def s_str(s):
    b = s.encode(); return struct.pack("<Q", len(b)) + b

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp"); ap.add_argument("out"); ap.add_argument("--pre", default="llama-bpe")
    a = ap.parse_args()
    d = open(a.inp, "rb").read()
    magic, ver, n_t, n_kv = struct.unpack_from("<IIQQ", d, 0); o = 24
    kvs = []
    for _ in range(n_kv):
        k, o2 = read_str(d, o); t = struct.unpack_from("<I", d, o2)[0]; end = skip_value(d, o2 + 4, t)
        kvs.append((k, d[o:end])); o = end
    infos_start = o
    for _ in range(n_t):
        _, o = read_str(d, o); nd = struct.unpack_from("<I", d, o)[0]; o += 4 + 8 * nd + 12
    infos = d[infos_start:o]
    data_start = (o + 31) // 32 * 32
    n_vocab = [struct.unpack_from("<I", raw, len(raw) - 4)[0] for k, raw in kvs if k.endswith(".vocab_size")][0]
    tokens, merges = train(n_vocab - 3)
    tokens += ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    types = [1] * (n_vocab - 3) + [3, 3, 3]
    def arr_str(key, xs): return s_str(key) + struct.pack("<IIQ", 9, 8, len(xs)) + b"".join(s_str(x) for x in xs)
    def u32(key, v): return s_str(key) + struct.pack("<II", 4, v)
    new = [raw for k, raw in kvs if not k.startswith("tokenizer.")]
    new += [s_str("tokenizer.ggml.model") + struct.pack("<I", 8) + s_str("gpt2"),
            s_str("tokenizer.ggml.pre") + struct.pack("<I", 8) + s_str(a.pre),
            arr_str("tokenizer.ggml.tokens", tokens),
            s_str("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, len(types)) + struct.pack("<%di" % len(types), *types),
            arr_str("tokenizer.ggml.merges", merges),
            u32("tokenizer.ggml.bos_token_id", n_vocab - 3), u32("tokenizer.ggml.eos_token_id", n_vocab - 2),
            u32("tokenizer.ggml.eot_token_id", n_vocab - 1),
            s_str("tokenizer.ggml.add_bos_token") + struct.pack("<I?", 7, True)]
    head = struct.pack("<IIQQ", magic, ver, n_t, len(new)) + b"".join(new) + infos
    head += b"\0" * ((-len(head)) % 32)
    open(a.out, "wb").write(head + d[data_start:])

if __name__ == "__main__":
    main()
