#!/usr/bin/env bash
# Regenerates the engine's golden data with the peer engine (llama.cpp via ../shared/peer):
# the tiny random-weight GGUF models and, for each, llama.cpp's greedy tokens and last-prompt logits
# (F32 KV cache, flash attention off: the tightest setting, ~1e-6 from a float64 reference).
# The outputs are committed, so the project's tests never need the peer. Run from the repository root.
set -euo pipefail
PEER=${PEER:-$(cd "$(dirname "$0")/../../shared/peer" 2>/dev/null && pwd)} || true
[ -n "${PEER:-}" ] && [ -f "$PEER/make_gguf.py" ] || { echo "peer not found: set PEER=/path/to/shared/peer" >&2; exit 1; }
PEER_HOME=${PEER_HOME:-$HOME/.cache/kvasir-peer}
[ -f "$PEER_HOME/peer_logits.mjs" ] || "$PEER/install.sh"
out=test-fixtures/src/main/resources/io/kvasir/testing/golden
mkdir -p "$out"

model() { # name, make_gguf.py flags...
  local name=$1; shift
  python3 "$PEER/make_gguf.py" "$@" --out "$out/$name.gguf" >/dev/null
}
ref() { # name, extra peer flags...
  local name=$1; shift
  node "$PEER_HOME/peer_logits.mjs" "$out/$name.gguf" --flash off --kv-type "${KV_TYPE:-F32}" --steps 20 --json "$out/$name.tmp.json" "$@" >/dev/null
  # keep what the tests read: prompt, greedy tokens, last-prompt logits
  python3 - "$out/$name.tmp.json" "$out/$name${SUFFIX:-}.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump({"llamaCpp": d["llamaCpp"], "prompt": d["prompt"], "greedy": d["greedy"],
           "lastLogits": [float("%.7g" % x) for x in d["lastLogits"]]}, open(sys.argv[2], "w"))
PY
  rm "$out/$name.tmp.json"
}

model llama-gqa        --preset tiny                                   # 4 heads / 2 KV heads, untied
model llama-mha        --preset tiny --n-head-kv 4 --seed 11           # MHA
model llama-mqa        --preset tiny --n-head-kv 1 --n-layer 3 --tied --seed 7
model llama-wide       --n-embd 96 --n-head 6 --n-head-kv 2 --n-layer 3 --n-ff 160 --tied --w-std 0.06 --seed 7
model llama3-rope      --preset tiny --llama3-rope --rope-base 500000 --tied --w-std 0.06 --seed 5
model qwen2-tiny       --arch qwen2 --preset tiny
model qwen2-mqa        --arch qwen2 --n-embd 128 --n-head 4 --n-head-kv 1 --n-ff 192 --tied --w-std 0.06 --seed 7
model qwen3-tiny       --arch qwen3 --preset tiny                      # per-head q/k RMSNorm, head_dim 32 ≠ 64/4
model qwen3-hd16       --arch qwen3 --preset tiny --head-dim 16 --n-head-kv 1 --tied --seed 7
# Mixture of Experts: Mixtral-style llama, qwen3moe, DeepSeek-V2-Lite-style and V3-style routing on MLA
model mixtral-tiny     --preset tiny --n-expert 4 --n-expert-used 2
model qwen3moe-tiny    --arch qwen3moe --preset tiny                   # 8 experts, top-2, expert ffn 64
model ds2-moe          --arch deepseek2 --preset tiny --n-layer 3 --n-expert 8 --n-expert-used 2 --n-expert-shared 1 \
                       --leading-dense 1 --expert-ff 64
model ds2-moe-sig      --arch deepseek2 --preset tiny --n-layer 3 --n-expert 8 --n-expert-used 2 --expert-weights-norm \
                       --expert-weights-scale 2.5 --expert-gating sigmoid --exp-probs-b --seed 5
model llama-gqa-f16    --preset tiny --type f16
model llama-gqa-q8_0   --preset tiny --type q8_0
model llama-wide-f16   --n-embd 96 --n-head 6 --n-head-kv 2 --n-layer 3 --n-ff 160 --tied --w-std 0.06 --seed 7 --type f16
model llama-wide-q8_0  --n-embd 96 --n-head 6 --n-head-kv 2 --n-layer 3 --n-ff 160 --tied --w-std 0.06 --seed 7 --type q8_0
# Multi-head Latent Attention (DeepSeek-V2 shape in miniature): plain attn_q, and a q low-rank path
model ds2-tiny         --arch deepseek2 --preset tiny
model ds2-qlora        --arch deepseek2 --preset tiny --q-lora-rank 24 --w-std 0.06 --seed 3
model ds2-kvb          --arch deepseek2 --preset tiny --legacy-kv-b --seed 9   # the older unsplit attn_kv_b layout
# YaRN as DeepSeek-V2 uses it (make_gguf.py writes no YaRN keys: add them to a sharper model)
model ds2-sharp        --arch deepseek2 --preset tiny --w-std 0.08 --seed 5
python3 "$(dirname "$0")/peer/gguf_set_keys.py" "$out/ds2-sharp.gguf" "$out/ds2-yarn.gguf" \
  deepseek2.rope.scaling.type=str:yarn deepseek2.rope.scaling.factor=f32:40 \
  deepseek2.rope.scaling.original_context_length=u32:32 deepseek2.rope.scaling.yarn_log_multiplier=f32:0.0707
rm "$out/ds2-sharp.gguf"

# ggml's 2- to 6-bit formats, one file each, and a Q4_K_M-style mix of two of them (same master
# weights); widths are multiples of 256 so that K-quant rows hold their own blocks, not fallbacks
QUANTS="q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k"
for t in $QUANTS; do
  model quant-$t --n-embd 256 --n-head 4 --n-head-kv 2 --n-layer 1 --n-ff 256 --w-std 0.06 --seed 21 --type $t
done
python3 "$(dirname "$0")/peer/gguf_mix.py" "$out/quant-q4_k.gguf" "$out/quant-q6_k.gguf" "$out/quant-mix.gguf" \
  ffn_down attn_v output.weight
for m in $(printf 'quant-%s ' $QUANTS) quant-mix; do
  ref $m
  # the float64 reference dequantizing the same bytes (llama.cpp also rounds activations to 8 bits)
  python3 "$PEER/ref_forward.py" "$out/$m.gguf" --json "$out/$m.tmp.json" >/dev/null
  python3 - "$out/$m.tmp.json" "$out/$m-f64.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump({"prompt": d["prompt"], "greedy": d["greedy"], "lastLogits": [float("%.9g" % x) for x in d["lastLogits"]]},
          open(sys.argv[2], "w"))
PY
  rm "$out/$m.tmp.json"
done

for m in llama-gqa llama-mha llama-mqa llama-wide llama3-rope qwen2-tiny qwen2-mqa qwen3-tiny qwen3-hd16 \
         mixtral-tiny qwen3moe-tiny ds2-moe ds2-moe-sig llama-wide-f16 llama-wide-q8_0 \
         ds2-tiny ds2-qlora ds2-kvb; do ref $m; done
ref ds2-yarn --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(44)]))')"
SUFFIX=-long ref ds2-tiny --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(44)]))')"
SUFFIX=-long ref qwen3-tiny --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(44)]))')"
SUFFIX=-long ref ds2-moe --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(44)]))')"
# a prompt that spans several KV blocks
SUFFIX=-long ref llama-wide --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(44)]))')"
# Llama-3 frequency scaling only touches slow-turning dimensions: it shows at long positions
SUFFIX=-long ref llama3-rope --prompt "$(python3 -c 'print(",".join(["1"]+[str(3+(i*7919+13)%509) for i in range(999)]))')"
# an F16 KV cache (llama.cpp's default, and Kvasir's --kv-cache-dtype auto for these F32 models)
for m in llama-gqa llama-wide qwen2-tiny ds2-tiny; do KV_TYPE=F16 SUFFIX=-kvf16 ref $m; done
# llama.cpp's tokenization of a few strings (SentencePiece vocabulary with byte fallback)
cp "$(dirname "$0")/peer/tokenize.mjs" "$PEER_HOME/"
node "$PEER_HOME/tokenize.mjs" "$out/llama-wide.gguf" "the model" "Hello world, the cache!" "  two  spaces" \
  "ünïcödé → 漢字" "tensor1234 x" "line one
line two" "a" "" > "$out/tokens-spm.json"
# a byte-level BPE (tokenizer.ggml.model "gpt2") vocabulary on the same tensors, for both pre-tokenizer families
for pre in llama-bpe qwen2; do
  python3 "$(dirname "$0")/peer/gpt2_vocab.py" "$out/llama-gqa.gguf" "$out/bpe-$pre.gguf" --pre "$pre"
  node "$PEER_HOME/tokenize.mjs" "$out/bpe-$pre.gguf" "The model reads the cache." "Hello world! It's 2026, they'll see" \
    "ünïcödé → 漢字" "  two  spaces" "line one
line two

" "tensors12345 x" "HELLO World's" "a" > "$out/tokens-bpe-$pre.json"
done
ls -la "$out"
