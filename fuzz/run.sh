#!/usr/bin/env bash
# Builds kiln's libFuzzer targets with clang into build-fuzz/ and runs each for
# FUZZ_SECONDS seconds (default 60), FUZZ_JOBS of them at once (default: one per core). Exits non-zero if a
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

targets="${FUZZ_TARGETS:-fuzz_gguf fuzz_safetensors fuzz_idx fuzz_idx_gzip fuzz_fortunes fuzz_csv fuzz_jsonl
  fuzz_token_file fuzz_bpe_roundtrip fuzz_bpe_files fuzz_wordpiece fuzz_keras fuzz_gguf_vocab}"
parallel="${FUZZ_JOBS:-$jobs}"  # targets fuzzed at once (each uses one core)

# Runs one target; its status lands in build-fuzz/logs/<target>.status.
run_target() {
  local t="$1"
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t" build-fuzz/logs
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="build-fuzz/artifacts/$t/")
  [[ -f "fuzz/dict/$t.dict" ]] && args+=(-dict="fuzz/dict/$t.dict")
  if KILN_FUZZ_FIXTURES="$PWD/tests/fixtures" \
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/$t" "${args[@]}" "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/logs/$t.log" 2>&1; then
    echo ok >"build-fuzz/logs/$t.status"
  else
    echo failed >"build-fuzz/logs/$t.status"
  fi
}

echo "== fuzzing ${seconds}s per target, ${parallel} at a time"
running=0
for t in $targets; do
  run_target "$t" &
  running=$((running + 1))
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
for t in $targets; do
  if [[ "$(cat "build-fuzz/logs/$t.status" 2>/dev/null)" == ok ]]; then
    echo "$t: $(grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "build-fuzz/logs/$t.log" | tail -1)"
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
