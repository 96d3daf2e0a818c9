#!/usr/bin/env bash
# Side-by-side epoch time and peak memory of the Fashion-MNIST CNN
# (bench/configs/fashion_cnn.toml, the model of examples/fashion_cnn.toml:
# conv-BN-ReLU-pool twice, dense 128, dropout 0.3, dense 10; Adam lr 1e-3,
# batch 128; 2 threads): `kiln train` against PyTorch 1.13 (Debian's
# python3-torch, bench/torch_cnn.py), in one run, alternating rounds so both
# see the same machine state. bench/train_vs_torch.sh covers more models; this
# one adds a sample limit for quick runs and picks OpenBLAS's core type by
# timing the CNN itself.
#
# Both train on the same images (the first LIMIT of the training set, all by
# default) with no augmentation or validation split, read the loss back every
# step, and evaluate the test set in batches of 256 at the end. Seconds are
# the training steps of an epoch only; max RSS is the whole process
# (/usr/bin/time -v), loading and the final evaluation included.
#
# Debian's torch runs its convolutions in oneDNN but its dense layers' GEMMs
# in the system BLAS: OpenBLAS 0.3.21 (libopenblas0-pthread), whose kernel
# choice depends on OPENBLAS_CORETYPE. The script first times a short torch
# run under each candidate core type (OPENBLAS_L2_SIZE unset) and uses the
# fastest for the comparison, printing every candidate's time.
#
# Usage: bench/cnn_vs_torch.sh [rounds=3] [epochs_per_round=1] [limit=0]
# Env: KILN (default build/src/kiln), THREADS (2), CORETYPES ("Haswell SkylakeX Zen").
# Needs: a Release build of kiln, python3-torch, libopenblas0-pthread.
# On a busy machine add OMP_WAIT_POLICY=passive (to both sides alike): with
# the default spin-then-sleep waits, OpenMP teams lose their cores to other
# processes and every run slows down many times over.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
rounds="${1:-3}"
epochs="${2:-1}"
limit="${3:-0}"
kiln="${KILN:-build/src/kiln}"
threads="${THREADS:-2}"
coretypes="${CORETYPES:-Haswell SkylakeX Zen}"
unset OPENBLAS_L2_SIZE

# Debian's torch links libblas.so.3, which the alternatives system points at OpenBLAS once installed.
if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != *openblas* ]]; then
  echo "libblas.so.3 is not OpenBLAS: Debian's torch would run the reference BLAS." >&2
  echo "Install it first: apt-get install -y libopenblas0-pthread" >&2
  exit 1
fi
[[ -x "$kiln" ]] || { echo "no kiln binary at $kiln (set KILN=...)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Runs a command under /usr/bin/time -v; prints its stdout, then "maxrss_kb N".
timed() {
  /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt"
  cat "$work/out.txt"
  echo "maxrss_kb $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")"
}
kiln_run() {
  timed "$kiln" train bench/configs/fashion_cnn.toml --epochs "$epochs" --limit "$limit" --threads "$threads" \
    --output-dir "$work/run" |
    sed -n 's/^epoch [0-9]*\/[0-9]* (\([0-9.]*\) s.*/epoch_seconds \1/p; /^maxrss_kb/p'
}
torch_run() { timed /usr/bin/python3 bench/torch_cnn.py "$@"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/^$1 //p"; }

# OPENBLAS_CORETYPE by measurement: one short epoch (3 200 images, 25 steps) each.
best="" best_s=""
for c in $coretypes; do
  s=$(OPENBLAS_CORETYPE="$c" torch_run 1 "$threads" 3200 | field epoch_seconds)
  echo "torch OPENBLAS_CORETYPE=$c: ${s} s for 25 steps"
  if [[ -z "$best" ]] || awk -v a="$s" -v b="$best_s" 'BEGIN{exit !(a < b)}'; then best="$c" best_s="$s"; fi
done
echo "using OPENBLAS_CORETYPE=$best for torch (OPENBLAS_L2_SIZE unset)"

kiln_t=() torch_t=() kiln_rss=() torch_rss=()
for r in $(seq "$rounds"); do
  out=$(kiln_run)
  while read -r s; do kiln_t+=("$s"); done < <(field epoch_seconds <<<"$out")
  kiln_rss+=("$(field maxrss_kb <<<"$out")")
  out=$(OPENBLAS_CORETYPE="$best" torch_run "$epochs" "$threads" "$limit")
  while read -r s; do torch_t+=("$s"); done < <(field epoch_seconds <<<"$out")
  torch_rss+=("$(field maxrss_kb <<<"$out")")
  echo "round $r: s/epoch kiln ${kiln_t[*]: -$epochs} | torch ${torch_t[*]: -$epochs};" \
       "max RSS MiB kiln $((${kiln_rss[-1]} / 1024)) | torch $((${torch_rss[-1]} / 1024))"
done
k=$(median "${kiln_t[@]}") t=$(median "${torch_t[@]}")
kr=$(median "${kiln_rss[@]}") tr=$(median "${torch_rss[@]}")
echo "median s/epoch ($threads threads, limit $limit): kiln $k | pytorch $t" \
     "(OPENBLAS_CORETYPE=$best): pytorch takes $(awk -v a="$t" -v b="$k" 'BEGIN{printf "%.2f", a/b}')x kiln's time"
echo "median max RSS: kiln $((kr / 1024)) MiB | pytorch $((tr / 1024)) MiB"
