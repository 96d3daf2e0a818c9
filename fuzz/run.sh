#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang into build-fuzz/ and runs each for
# FUZZ_SECONDS seconds (default 60), one after the other. Exits non-zero if a
# target fails to build or finds anything (crash, sanitizer report, leak,
# timeout, out-of-memory); the input that did it is saved in
# build-fuzz/artifacts/<target>/ and the log in build-fuzz/logs/<target>.log.
# FUZZ_TARGETS="fuzz_gguf fuzz_csv" runs a subset. The committed seeds in
# fuzz/corpus/<target>/ are only read; what the fuzzer learns accumulates in
# build-fuzz/corpus/<target>/ across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
jobs="$(nproc)"

cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" >/dev/null
cmake --build build-fuzz -j"$jobs"

targets="${FUZZ_TARGETS:-fuzz_gguf fuzz_safetensors fuzz_idx fuzz_idx_gzip fuzz_fortunes fuzz_csv fuzz_jsonl}"
failed=()
for t in $targets; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t" build-fuzz/logs
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="build-fuzz/artifacts/$t/")
  [[ -f "fuzz/dict/$t.dict" ]] && args+=(-dict="fuzz/dict/$t.dict")
  echo "== $t (${seconds}s)"
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/$t" "${args[@]}" "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/logs/$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "build-fuzz/logs/$t.log" | tail -1 || true
  else
    echo "!! $t found a problem; see build-fuzz/logs/$t.log and build-fuzz/artifacts/$t/"
    grep -E "ERROR|SUMMARY|fuzz finding|runtime error|Test unit written" "build-fuzz/logs/$t.log" | head -5 || true
    failed+=("$t")
  fi
done

if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "== all fuzz targets ran clean"
