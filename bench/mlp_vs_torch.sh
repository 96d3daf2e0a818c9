#!/usr/bin/env bash
# Side-by-side epoch time of the Fashion-MNIST MLP (784-512-256-10, ReLU, Adam
# lr 1e-3, batch 128, 2 threads): kiln vs PyTorch 1.13 (Debian python3-torch),
# in one run, alternating so all see the same machine state. PyTorch runs twice
# per round: as installed, and with OPENBLAS_CORETYPE=Cooperlake, because
# Debian's torch does its GEMMs in OpenBLAS 0.3.21, which does not recognise
# this CPU and otherwise falls back to SSE3 kernels (see BENCHMARKS.md).
# Usage: bench/mlp_vs_torch.sh [rounds=3] [epochs_per_round=2]
# Needs: a Release build in build/ (scripts/build.sh) and python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
epochs="${2:-2}"
kiln_t=() torch_t=() tuned_t=()
kiln_epochs() {
  build/src/kiln train --epochs "$epochs" --threads 2 --log-every 100000 |
    sed -n 's/^epoch [0-9]*\/[0-9]*: \([0-9.]*\) s.*/\1/p'
}
torch_epochs() { /usr/bin/python3 bench/torch_mlp_epoch.py "$epochs" 2 | sed -n 's/^epoch_seconds //p'; }
for r in $(seq "$rounds"); do
  while read -r s; do kiln_t+=("$s"); done < <(kiln_epochs)
  while read -r s; do torch_t+=("$s"); done < <(torch_epochs)
  while read -r s; do tuned_t+=("$s"); done < <(OPENBLAS_CORETYPE=Cooperlake torch_epochs)
  echo "round $r: kiln ${kiln_t[*]: -$epochs} | torch ${torch_t[*]: -$epochs} | torch+CORETYPE ${tuned_t[*]: -$epochs}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
k=$(median "${kiln_t[@]}") t=$(median "${torch_t[@]}") u=$(median "${tuned_t[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
echo "median s/epoch: kiln $k | pytorch $t ($(ratio "$t" "$k")x kiln's time) | pytorch with OPENBLAS_CORETYPE=Cooperlake $u ($(ratio "$u" "$k")x)"
