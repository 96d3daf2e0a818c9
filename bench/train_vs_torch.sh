#!/usr/bin/env bash
# Per-epoch training time and peak memory, kiln vs PyTorch 1.13 (Debian's
# python3-torch), same model, batch size, optimizer and data, 2 threads each,
# alternating in one run. Usage:
#   bench/train_vs_torch.sh [ROUNDS] [MODELS...]     MODELS: mlp cnn row_lstm fortune_lstm (default: cnn row_lstm fortune_lstm)
# Each run trains 2 epochs and the second epoch's time is quoted (the first
# includes one-off set-up on both sides). Prints every run and the medians.
# PyTorch's f32 GEMMs go through OpenBLAS (libopenblas0-pthread); its core type
# is chosen here by timing a 1024³ matmul under each candidate, with
# OPENBLAS_L2_SIZE unset, and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; shift || true
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(cnn row_lstm fortune_lstm)
kiln=build/src/kiln
peers=../shared/peers
[ -x "$kiln" ] || { echo "build kiln first (scripts/build.sh --target kiln)" >&2; exit 1; }
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed" ||
  { echo "install libopenblas0-pthread for the PyTorch peer" >&2; exit 1; }
unset OPENBLAS_L2_SIZE
export KILN_NUM_THREADS=2 OMP_NUM_THREADS=2

best_core=""; best_gflops=0
for core in Haswell SkylakeX Cooperlake Zen; do
  g=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 -c '
import time, torch
torch.set_num_threads(2); a = torch.randn(1024, 1024); b = torch.randn(1024, 1024); a @ b
t = time.perf_counter(); n = 20
for _ in range(n): a @ b
print(f"{2 * 1024**3 * n / (time.perf_counter() - t) / 1e9:.1f}")')
  echo "OPENBLAS_CORETYPE=$core: torch 1024^3 matmul $g GFLOP/s"
  if awk "BEGIN{exit !($g > $best_gflops)}"; then best_gflops=$g; best_core=$core; fi
done
export OPENBLAS_CORETYPE=$best_core
echo "chosen OPENBLAS_CORETYPE=$best_core ($best_gflops GFLOP/s)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for m in "${models[@]}"; do
  case $m in
    mlp) cfg=bench/configs/fashion_mlp.toml; peer=("$peers/torch_fmnist.py" mlp 2 128) ;;
    cnn) cfg=bench/configs/fashion_cnn.toml; peer=("$peers/torch_fmnist.py" cnn 2 128) ;;
    row_lstm) cfg=bench/configs/fashion_row_lstm.toml; peer=("$peers/torch_fmnist.py" lstm 2 128) ;;
    fortune_lstm) cfg=bench/configs/fortune_lstm.toml; peer=(bench/torch_fortune_lstm.py 2 2) ;;
    *) echo "unknown model $m" >&2; exit 2 ;;
  esac
  : > "$tmp/k"; : > "$tmp/t"; : > "$tmp/kr"; : > "$tmp/tr"
  for r in $(seq "$rounds"); do
    /usr/bin/time -v "$kiln" train "$cfg" --output-dir "$tmp/run" --threads 2 > "$tmp/out" 2> "$tmp/err"
    ks=$(grep -o 'epoch 2/2 ([0-9.]* s' "$tmp/out" | grep -o '[0-9.]* s' | cut -d' ' -f1)
    krss=$(grep 'Maximum resident' "$tmp/err" | awk '{print $NF}')
    /usr/bin/time -v /usr/bin/python3 "${peer[@]}" > "$tmp/out" 2> "$tmp/err"
    ts=$(grep -o 'epoch 2: [0-9.]* s' "$tmp/out" | awk '{print $3}')
    trss=$(grep 'Maximum resident' "$tmp/err" | awk '{print $NF}')
    echo "$m round $r: kiln ${ks} s/epoch (max RSS ${krss} KiB), torch ${ts} s/epoch (max RSS ${trss} KiB)"
    echo "$ks" >> "$tmp/k"; echo "$ts" >> "$tmp/t"; echo "$krss" >> "$tmp/kr"; echo "$trss" >> "$tmp/tr"
  done
  k=$(median < "$tmp/k"); t=$(median < "$tmp/t"); kr=$(median < "$tmp/kr"); tr=$(median < "$tmp/tr")
  echo "$m median of $rounds: kiln $k s/epoch, torch $t s/epoch, speed-up $(awk "BEGIN{printf \"%.2f\", $t/$k}")x;" \
       "max RSS kiln $kr KiB, torch $tr KiB"
done
