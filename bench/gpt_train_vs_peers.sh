#!/usr/bin/env bash
# GPT-2 124M training speed on the CPU (issue 9): kiln against llm.c's CPU
# trainer (train_gpt2) and PyTorch 1.13 (Debian's python3-torch), side by side
# in one run. Every side trains GPT-2 small from random weights with AdamW on
# 2 threads, batch 4; a step is forward + backward + optimizer update, and the
# first step (one-off allocation) is never counted.
#
#   T=64    llm.c f32 (its trainer fixes B=4, T=64), torch f32 and bf16 autocast,
#           kiln f32 and --bf16; RUNS rounds, the sides alternating in each round
#   T=1024  torch and kiln, f32 and bf16; LONG_RUNS rounds (torch steps take
#           30-50 s here, so torch times only LONG_STEPS steps per run)
#
# Before timing it prints the CPU (lscpu), the machine's f32 FMA peak and
# oneDNN's f32/bf16 matmul rates (build/bench/bench_gemm_onednn), and picks
# OPENBLAS_CORETYPE for torch's f32 GEMMs (Debian's torch runs them in the
# system BLAS) by timing a 1024^3 torch matmul under each candidate, with
# OPENBLAS_L2_SIZE unset. Max RSS is the whole process (/usr/bin/time -v).
# Each figure is the median over runs of each run's median step time; tokens/s
# is B*T over that. The table ends with kiln's tokens/s over each peer's at the
# same T (above 1: kiln is faster).
#
# Every raw log (*.log, *.time), results.tsv (one line per run) and this
# script's own output (console.log) are kept in OUT_DIR; the table is also
# written to OUT_DIR/summary.txt.
#
# Usage: bench/gpt_train_vs_peers.sh
# Env (defaults):
#   OUT_DIR (/tmp/gpt_bench)   KILN_BENCH (build/bench/bench_gpt_train)
#   LLMC (../peers/llm.c, relative to the repository root)   PEERS (../shared/peers)
#   GEMM_BENCH (build/bench/bench_gemm_onednn)   THREADS (2)
#   RUNS (3) STEPS (6): T=64 torch and kiln runs, timed steps per run
#   LLMC_RUNS (3) LLMC_STEPS (8): llm.c runs, steps per run after step 0
#   LONG_RUNS (1) LONG_STEPS (3) KILN_LONG_STEPS (6): T=1024 runs, torch's and kiln's steps
#   CORETYPES ("Zen Haswell SkylakeX Cooperlake")   LLMC_TIMEOUT (900 s per llm.c run)
# Needs: python3-torch, libopenblas0-pthread, time (GNU /usr/bin/time),
# about 11 GB free memory for torch at T=1024, and llm.c built outside the tree:
#   G=$(git dir from the fetch of github:karpathy/llm.c); mkdir -p ../peers/llm.c
#   git --git-dir=$G archive HEAD | tar -x -C ../peers/llm.c
#   git --git-dir=$G rev-parse HEAD > ../peers/llm.c/COMMIT    # printed by this script
#   (cd ../peers/llm.c && make train_gpt2)
#   /usr/bin/python3 ../shared/peers/make_llmc_inputs.py --root ../peers/llm.c --tokenizer
# A side whose program is missing is reported and skipped. With the defaults
# the peers alone took 22 minutes on a busy 2-core machine; kiln's runs come on
# top. Time only on a quiet machine; on a busy one add OMP_WAIT_POLICY=passive
# (it reaches every side alike).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
out="${OUT_DIR:-/tmp/gpt_bench}"
kiln_bench="${KILN_BENCH:-build/bench/bench_gpt_train}"
llmc="${LLMC:-../peers/llm.c}"
peers="${PEERS:-../shared/peers}"
gemm_bench="${GEMM_BENCH:-build/bench/bench_gemm_onednn}"
threads="${THREADS:-2}"
runs="${RUNS:-3}" steps="${STEPS:-6}"
llmc_runs="${LLMC_RUNS:-3}" llmc_steps="${LLMC_STEPS:-8}" llmc_timeout="${LLMC_TIMEOUT:-900}"
long_runs="${LONG_RUNS:-1}" long_steps="${LONG_STEPS:-3}" kiln_long_steps="${KILN_LONG_STEPS:-6}"
coretypes="${CORETYPES:-Zen Haswell SkylakeX Cooperlake}"
batch=4
unset OPENBLAS_L2_SIZE
export OMP_NUM_THREADS="$threads"  # libgomp reads it before main; llm.c takes its thread count from it

# Debian's torch links libblas.so.3, which the alternatives system points at OpenBLAS once installed.
if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != *openblas* ]]; then
  echo "libblas.so.3 is not OpenBLAS: Debian's torch would run the reference BLAS." >&2
  echo "Install it first: apt-get install -y libopenblas0-pthread" >&2
  exit 1
fi
[[ -x /usr/bin/time ]] || { echo "GNU time is missing: apt-get install -y time" >&2; exit 1; }
[[ -f "$peers/torch_gpt2_train.py" ]] || { echo "no $peers/torch_gpt2_train.py (set PEERS=...)" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # absolute: llm.c runs from its own directory
rm -f "$out"/*.log "$out"/*.time "$out/results.tsv" "$out/summary.txt"
exec > >(tee "$out/console.log") 2>&1
start_s=$SECONDS

have_kiln=1 have_llmc=1
if [[ ! -x "$kiln_bench" ]]; then
  echo "no kiln benchmark at $kiln_bench (build target bench_gpt_train, or set KILN_BENCH=...): kiln skipped"
  have_kiln=0
fi
if [[ ! -x "$llmc/train_gpt2" || ! -f "$llmc/gpt2_124M.bin" ]]; then
  echo "no llm.c trainer or checkpoint in $llmc (see --help for how to build it; or set LLMC=...): llm.c skipped"
  have_llmc=0
fi

echo "== machine"
lscpu | grep -E '^(Model name|Vendor ID|CPU\(s\)|L2 cache|L3 cache):' | sed 's/  */ /g'
flags=$(lscpu | sed -n 's/^Flags: *//p')
echo "ISA: $(for f in avx2 avx512f avx512_bf16 amx_bf16; do [[ " $flags " == *" $f "* ]] && printf '%s ' "$f"; done)"
echo "gcc -march=native (llm.c's build): $(gcc -march=native -Q --help=target 2>/dev/null | sed -n 's/^[[:space:]]*-march=[[:space:]]*//p')"
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "threads: $threads, batch: $batch, torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
if [[ $have_llmc == 1 ]]; then
  commit=$(git -C "$llmc" rev-parse --short=12 HEAD 2>/dev/null || head -c 12 "$llmc/COMMIT" 2>/dev/null || echo unknown)
  echo "llm.c: $llmc, commit $commit"
fi

echo "== machine rates ($threads threads)"
if [[ -x "$gemm_bench" ]]; then
  "$gemm_bench" --benchmark_filter='BM_FmaPeak|BM_Matmul_onednn_(f32|bf16)/(1024|2048)/' > "$out/machine_rates.log" 2>&1
  grep -E '^(calibrated FMA peak|onednn_isa|oneDNN )' "$out/machine_rates.log" || true
  sed -n 's/^BM_\([A-Za-z0-9_]*\)\/\(\([0-9]*\)\/\)\{0,1\}.*GFLOPS=\([0-9.]*\)\/s.*/\1 \3 \4/p' "$out/machine_rates.log" |
    awk '{if (NF == 2) { $3 = $2; $2 = "" }; printf "  %-20s %-5s %7.1f GFLOP/s\n", $1, $2, $3}'
else
  echo "no $gemm_bench (build target bench_gemm_onednn, or set GEMM_BENCH=...): machine rates skipped"
fi

echo "== OPENBLAS_CORETYPE for torch (1024^3 f32 matmul, OPENBLAS_L2_SIZE unset)"
best_core="" best_gflops=0
for core in $coretypes; do
  g=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 -c '
import sys, time, torch
torch.set_num_threads(int(sys.argv[1])); a = torch.randn(1024, 1024); b = torch.randn(1024, 1024); a @ b
t = time.perf_counter(); n = 20
for _ in range(n): a @ b
print(f"{2 * 1024**3 * n / (time.perf_counter() - t) / 1e9:.1f}")' "$threads")
  echo "  $core: $g GFLOP/s"
  if awk -v a="$g" -v b="$best_gflops" 'BEGIN{exit !(a > b)}'; then best_gflops=$g best_core=$core; fi
done
echo "using OPENBLAS_CORETYPE=$best_core for torch"

# timed NAME CMD...: the command's output goes to NAME.log, /usr/bin/time -v's report to NAME.time.
timed() {
  local name=$1; shift
  /usr/bin/time -v -o "$out/$name.time" "$@" > "$out/$name.log" 2>&1
}
maxrss_mib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/$1.time" | awk '{printf "%.0f", $1 / 1024}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# record TOOL PRECISION T RUN STEP_MS RSS_MIB MFU: one line of results.tsv (tokens/s from B*T and the step time).
record() {
  local tok_s
  tok_s=$(awk -v ms="$5" -v t="$3" -v b="$batch" 'BEGIN{printf "%.1f", b * t * 1000 / ms}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$tok_s" "$5" "$6" "$7" >> "$out/results.tsv"
  echo "  $1 $2 T=$3 run $4: $5 ms/step, $tok_s tok/s, max RSS $6 MiB"
}

# llm.c trains 40 steps with a validation pass every 10 and sampling at 20; it
# is stopped (by its PID) once step LLMC_STEPS is printed. Its step time covers
# forward, backward and update only. stdbuf makes its printf line-buffered.
llmc_run() {
  local name="llmc_T64_r$1" log="$out/llmc_T64_r$1.log"
  (cd "$llmc" && exec /usr/bin/time -v -o "$out/$name.time" stdbuf -oL ./train_gpt2) > "$log" 2>&1 &
  local time_pid=$! pid="" waited=0
  while kill -0 "$time_pid" 2>/dev/null; do
    [[ -n "$pid" ]] || pid=$(ps -o pid= --ppid "$time_pid" | tr -d ' ' || true)
    if (( $(grep -c '^step [0-9]*: .*(took ' "$log" || true) > llmc_steps )) || (( waited >= llmc_timeout )); then
      if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
      break
    fi
    sleep 1; waited=$((waited + 1))
  done
  wait "$time_pid" || true  # it ends by SIGTERM; time still writes its report
  local ms
  ms=$(sed -n 's/^step \([0-9]*\): train loss .* (took \([0-9.]*\) ms)$/\1 \2/p' "$log" |
       awk -v n="$llmc_steps" '$1 >= 1 && $1 <= n {print $2}' | median)
  if [[ -z "$ms" ]]; then echo "  llm.c run $1 printed no timed step: see $log"; return; fi
  record llm.c f32 64 "$1" "$ms" "$(maxrss_mib "$name")" -
}

# torch_gpt2_train.py prints "... median X ms/step = Y tok/s" over its timed steps.
torch_run() {  # RUN T STEPS PRECISION
  local name="torch_$4_T$2_r$1" flag=()
  [[ $4 == bf16 ]] && flag=(--bf16)
  if ! timed "$name" env OPENBLAS_CORETYPE="$best_core" /usr/bin/python3 "$peers/torch_gpt2_train.py" \
       --batch "$batch" --seq "$2" --steps "$3" --threads "$threads" "${flag[@]}"; then
    echo "  torch $4 T=$2 run $1 failed: see $out/$name.log"; return
  fi
  local ms
  ms=$(sed -n 's/.*: median \([0-9.]*\) ms\/step.*/\1/p' "$out/$name.log")
  if [[ -z "$ms" ]]; then echo "  torch $4 T=$2 run $1 printed no median: see $out/$name.log"; return; fi
  record torch "$4" "$2" "$1" "$ms" "$(maxrss_mib "$name")" -
}

# kiln's benchmark prints one line: tokens_per_s=<x> step_ms=<median> mfu=<fraction>.
kiln_run() {  # RUN T STEPS PRECISION
  local name="kiln_$4_T$2_r$1" flag=()
  [[ $4 == bf16 ]] && flag=(--bf16)
  if ! timed "$name" "$kiln_bench" --batch "$batch" --seq "$2" --steps "$3" --threads "$threads" "${flag[@]}"; then
    echo "  kiln $4 T=$2 run $1 failed: see $out/$name.log"; return
  fi
  local ms mfu
  ms=$(sed -n 's/.*step_ms=\([0-9.eE+-]*\).*/\1/p' "$out/$name.log" | tail -1)
  mfu=$(sed -n 's/.*mfu=\([0-9.eE+-]*\).*/\1/p' "$out/$name.log" | tail -1)
  if [[ -z "$ms" ]]; then echo "  kiln $4 T=$2 run $1 printed no step_ms=: see $out/$name.log"; return; fi
  record kiln "$4" "$2" "$1" "$ms" "$(maxrss_mib "$name")" "${mfu:--}"
}

echo "== T=64: $runs rounds (llm.c $llmc_runs runs of $llmc_steps steps; torch and kiln $steps steps each)"
rounds=$(( runs > llmc_runs ? runs : llmc_runs ))
for r in $(seq "$rounds"); do
  if (( have_llmc && r <= llmc_runs )); then llmc_run "$r"; fi
  if (( r <= runs )); then
    for p in f32 bf16; do
      torch_run "$r" 64 "$steps" "$p"
      if (( have_kiln )); then kiln_run "$r" 64 "$steps" "$p"; fi
    done
  fi
done

echo "== T=1024: $long_runs rounds (torch $long_steps steps, kiln $kiln_long_steps steps)"
for r in $(seq "$long_runs"); do
  for p in f32 bf16; do
    torch_run "$r" 1024 "$long_steps" "$p"
    if (( have_kiln )); then kiln_run "$r" 1024 "$kiln_long_steps" "$p"; fi
  done
done

{
  echo "== GPT-2 124M training, B=$batch, $threads threads (median over runs; torch OPENBLAS_CORETYPE=$best_core)"
  [[ -s "$out/results.tsv" ]] || { echo "no run produced a result"; exit 1; }
  # One row per tool/precision/T: medians of step ms, max RSS and mfu over its runs.
  awk -F'\t' -v b="$batch" '
    function med(s,   v, n, i, j, t) {
      n = split(s, v, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
      return (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
    }
    {
      k = $1 SUBSEP $2 SUBSEP $3
      if (!(k in ms)) { order[++nk] = k; tool[k] = $1; prec[k] = $2; T[k] = $3 }
      ms[k] = ms[k] " " $6; rss[k] = rss[k] " " $7; cnt[k]++
      if ($8 != "-") mfu[k] = mfu[k] " " $8
    }
    END {
      printf "%-6s %-9s %5s %5s %9s %10s %12s %6s\n", "tool", "precision", "T", "runs", "tokens/s", "step ms", "max RSS MiB", "mfu"
      for (i = 1; i <= nk; i++) {
        k = order[i]; m = med(ms[k]); tps[k] = b * T[k] * 1000 / m
        printf "%-6s %-9s %5d %5d %9.1f %10.0f %12.0f %6s\n", tool[k], prec[k], T[k], cnt[k], tps[k], m, med(rss[k]),
               (k in mfu) ? sprintf("%.3f", med(mfu[k])) : "-"
      }
      for (i = 1; i <= nk; i++) {
        k = order[i]; if (tool[k] != "kiln") continue
        line = ""
        for (j = 1; j <= nk; j++) {
          p = order[j]; if (tool[p] == "kiln" || T[p] != T[k]) continue
          line = line sprintf("%s%.2fx %s %s", line == "" ? "" : ", ", tps[k] / tps[p], tool[p], prec[p])
        }
        if (line != "") printf "kiln %s T=%d tokens/s over: %s\n", prec[k], T[k], line
      }
    }' "$out/results.tsv"
  echo "raw logs: $out; took $(( (SECONDS - start_s) / 60 )) min $(( (SECONDS - start_s) % 60 )) s"
} | tee "$out/summary.txt"
