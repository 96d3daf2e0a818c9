#!/usr/bin/env bash
# GPT-2 124M inference speed, kiln against llama.cpp (issue 10), side by side
# in one run on the same GGUF weights (random, from ../shared/peers/make_gpt2_gguf.py
# via bench/gguf_vs_llamacpp.sh; f16 and q8_0 by llama-quantize), 2 threads:
#   pp512: a 512-token prompt, logits for the last position only;
#   tg128: 128 tokens decoded one at a time from an empty cache —
# llama-bench -p 512 -n 128 -r REPS for f32, f16 and q8_0; kiln's
# build/bench/bench_gpt_decode on the f32 file (weights decoded to f32) with
# f32 weights and with bf16 weights (--weights bf16), and on the q8_0 file
# with q8_0 weights (--weights q8_0: the file's own quants, requantized
# exactly from kiln's f32 copy, inputs rounded to q8_0 as llama.cpp rounds
# them) beside llama.cpp's q8_0. Before them: the plain-copy
# bandwidth of 64 MiB (bench_kiln_ops), since decoding is bound by reading
# the weights; each tg figure is also given as weight bytes read per second.
#
# Usage: bench/gpt_decode_vs_llamacpp.sh      Env: LLAMA (../peers/llama.cpp), GGUF_DIR (/tmp/gguf_peer),
#        REPS (3), RUNS (3: the whole comparison, medians of medians by eye)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
llama="${LLAMA:-../peers/llama.cpp}" dir="${GGUF_DIR:-/tmp/gguf_peer}" reps="${REPS:-3}" runs="${RUNS:-3}"
[ -f "$dir/gpt2-q8_0.gguf" ] || { echo "no $dir/gpt2-*.gguf: run bench/gguf_vs_llamacpp.sh first (OUT_DIR=$dir)"; exit 1; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); llama.cpp $(cat "$llama/COMMIT" 2>/dev/null || echo '?'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$runs"); do
  echo "== run $r"
  KILN_NUM_THREADS=2 OMP_NUM_THREADS=2 build/bench/bench_kiln_ops --benchmark_filter='PlainCopy64MiB' \
    --benchmark_repetitions=1 2>/dev/null | grep -o 'copy_GB/s=[0-9.]*' | head -1
  for t in f32 f16 q8_0; do
    "$llama/build/bin/llama-bench" -m "$dir/gpt2-$t.gguf" -t 2 -p 512 -n 128 -r "$reps" 2>/dev/null |
      awk -v t="$t" -F'|' '/pp512|tg128/ {gsub(/ /, "", $7); gsub(/^ +| +$/, "", $8); print "llama.cpp " t " " $7 ": " $8 " tokens/s"}'
  done
  for w in f32:f32 f32:bf16 q8_0:q8_0; do  # file:weights
    build/bench/bench_gpt_decode --gguf "$dir/gpt2-${w%%:*}.gguf" --reps "$reps" --threads 2 --weights "${w#*:}" |
      awk -v w="${w#*:}" '/^pp|^tg/ {print "kiln " w " " $0}'
  done
done
