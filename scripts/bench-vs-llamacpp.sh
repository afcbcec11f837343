#!/usr/bin/env bash
# Runs llama.cpp (../shared/peer/bench.mjs) and Kvasir (kvasir bench engine) on the same GGUF with the
# same protocol, one after the other (never concurrently: they share the cores), and prints both and
# the ratios. usage: scripts/bench-vs-llamacpp.sh MODEL.gguf [--threads 2] [--prompt-len 512] [--gen 64]
#                    [--reps 3] [--batch 8] [--flash on|off]
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
model=${1:?usage: $0 MODEL.gguf [--threads N] [--prompt-len P] [--gen G] [--reps R] [--batch B] [--flash on|off]}; shift
threads=2 prompt=512 gen=64 reps=3 batch=8 flash=on
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2 ;; --prompt-len) prompt=$2 ;; --gen) gen=$2 ;; --reps) reps=$2 ;;
    --batch) batch=$2 ;; --flash) flash=$2 ;; *) echo "unknown option $1" >&2; exit 2 ;;
  esac; shift 2
done
PEER=${PEER:-$root/../shared/peer}
PEER_HOME=${PEER_HOME:-$HOME/.cache/kvasir-peer}
[ -f "$PEER_HOME/bench.mjs" ] || "$PEER/install.sh" >&2
out=$(mktemp -d)
common=(--threads "$threads" --prompt-len "$prompt" --gen "$gen" --reps "$reps")
echo "llama.cpp (flash attention $flash)…" >&2
node "$PEER_HOME/bench.mjs" "$model" "${common[@]}" --flash "$flash" > "$out/peer.json" 2>/dev/null
echo "Kvasir, batch 1…" >&2
"$root/bin/kvasir" bench engine --model "$model" "${common[@]}" --json 2>/dev/null | tail -1 > "$out/k1.json"
echo "Kvasir, batch $batch…" >&2
"$root/bin/kvasir" bench engine --model "$model" "${common[@]}" --batch "$batch" --json 2>/dev/null | tail -1 > "$out/kb.json"
python3 - "$out" "$model" "$batch" <<'PY'
import json, sys
d, model, batch = sys.argv[1], sys.argv[2], sys.argv[3]
peer = json.load(open(d + "/peer.json")); k1 = json.load(open(d + "/k1.json")); kb = json.load(open(d + "/kb.json"))
print(f"{model}: {k1['threads']} threads, prompt {k1['prompt_len']}, gen {k1['gen']}, {k1['cpu']}")
print(f"{'tokens/s (min / median)':32} {'llama.cpp':>18} {'Kvasir':>18} {'ratio (median)':>15}")
def row(name, p, k):
    ratio = f"{k['median'] / p['median']:.2f}x" if p else ""
    ps = f"{p['min']:.2f} / {p['median']:.2f}" if p else "-"
    print(f"{name:32} {ps:>18} {k['min']:.2f} / {k['median']:.2f} {ratio:>15}")
row("prefill", peer["prefill_tps"], k1["prefill_tps"])
row("decode, batch 1", peer["decode_tps"], k1["decode_tps"])
row(f"decode, batch {batch} (all seqs)", None, kb["decode_tps"])
print(f"{'batch ' + batch + ' / batch 1 decode':32} {'':>18} {kb['decode_tps']['median'] / k1['decode_tps']['median']:>17.2f}x")
PY
rm -rf "$out"
