#!/usr/bin/env bash
# Side-by-side epoch time of the Fashion-MNIST MLP (784-512-256-10, ReLU, Adam
# lr 1e-3, batch 128, 2 threads): kiln vs PyTorch (Debian python3-torch), in one
# run, alternating the two so both see the same machine state.
# Usage: bench/mlp_vs_torch.sh [rounds=3] [epochs_per_round=2]
# Needs: a Release build in build/ (scripts/build.sh) and python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
epochs="${2:-2}"
kiln_times=()
torch_times=()
for r in $(seq "$rounds"); do
  while read -r s; do kiln_times+=("$s"); done < <(
    build/src/kiln train --epochs "$epochs" --threads 2 --log-every 100000 | sed -n 's/^epoch [0-9]*\/[0-9]*: \([0-9.]*\) s.*/\1/p')
  while read -r s; do torch_times+=("$s"); done < <(
    /usr/bin/python3 bench/torch_mlp_epoch.py "$epochs" 2 | sed -n 's/^epoch_seconds //p')
  echo "round $r: kiln ${kiln_times[*]: -$epochs} | torch ${torch_times[*]: -$epochs}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
k=$(median "${kiln_times[@]}")
t=$(median "${torch_times[@]}")
echo "median seconds per epoch: kiln $k  pytorch $t  speedup $(awk -v a="$t" -v b="$k" 'BEGIN{printf "%.2f", a/b}')x"
