#!/usr/bin/env bash
# GGUF interchange with the real peer (issue 10): greedy continuations from
# kiln and from llama.cpp on the same GGUF files must be the same text.
#
#   1. llama.cpp's own GPT-2 GGUF: ../shared/peers/make_gpt2_gguf.py writes a
#      random-weight GPT-2 124M with llama.cpp's gguf-py (f32); llama-quantize
#      makes f16 and q8_0. kiln loads each (`kiln generate --model X.gguf`).
#   2. A GPT trained by kiln (MODEL_DIR, the hf/ directory of a `kiln train`
#      LM run, e.g. runs/gpt_fortunes/hf): `kiln convert` writes f32, f16 and
#      q8_0 GGUFs, which llama.cpp runs unchanged.
# For every file and prompt it prints kiln's and llama.cpp's text (llama-simple:
# greedy, no BOS for GPT-2, stops at <|endoftext|> like kiln without --ignore-eos)
# and SAME or DIFFERENT; it exits 1 if any differ. kiln runs a q8_0 file with
# --weights q8_0 (its own quants, and the inputs of each product rounded to
# q8_0 as llama.cpp rounds them), other files in f32.
#
# Usage: bench/gguf_vs_llamacpp.sh [MODEL_DIR]
# Env: LLAMA (../peers/llama.cpp: a source tree with build/bin/llama-simple and
#      llama-quantize built, see ../shared/peers/README.md), OUT_DIR (/tmp/gguf_peer),
#      KILN (build/src/kiln), TOKENS (32), PEERS (../shared/peers)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
llama="${LLAMA:-../peers/llama.cpp}" out="${OUT_DIR:-/tmp/gguf_peer}" kiln="${KILN:-build/src/kiln}"
tokens="${TOKENS:-32}" peers="${PEERS:-../shared/peers}" model_dir="${1:-}"
mkdir -p "$out"
echo "llama.cpp: $(cat "$llama/COMMIT" 2>/dev/null || echo "commit unknown") at $llama"
prompts=("The meaning of life is" "Q: What do you call a" "It was a dark and stormy night")
fail=0
compare() {  # compare FILE
  local weights=f32
  case "$1" in *q8_0.gguf) weights=q8_0 ;; esac
  for p in "${prompts[@]}"; do
    local l k
    l=$("$llama/build/bin/llama-simple" -m "$1" -n "$tokens" "$p" 2>/dev/null)
    k=$("$kiln" generate --model "$1" "$p" -n "$tokens" --threads 2 --weights "$weights" 2>/dev/null)
    if [ "$l" == "$k" ]; then echo "SAME      $(basename "$1") | $p"; else
      echo "DIFFERENT $(basename "$1") | $p"; echo "  llama.cpp: $l"; echo "  kiln:      $k"; fail=1; fi
  done
}
if [ ! -f "$out/gpt2-f32.gguf" ]; then
  PYTHONPATH="$llama/gguf-py" /usr/bin/python3 "$peers/make_gpt2_gguf.py" "$out/gpt2-f32.gguf"
fi
for t in f16 q8_0; do
  [ -f "$out/gpt2-$t.gguf" ] || "$llama/build/bin/llama-quantize" "$out/gpt2-f32.gguf" "$out/gpt2-$t.gguf" "$t" >/dev/null 2>&1
done
echo "== llama.cpp's GPT-2 GGUFs in kiln ($tokens greedy tokens)"
for t in f32 f16 q8_0; do compare "$out/gpt2-$t.gguf"; done
if [ -n "$model_dir" ]; then
  echo "== kiln's model $model_dir exported to GGUF, in llama.cpp"
  for t in f32 f16 q8_0; do
    "$kiln" convert "$model_dir" "$out/kiln-$t.gguf" --type "$t" >/dev/null
    compare "$out/kiln-$t.gguf"
  done
fi
exit "$fail"
