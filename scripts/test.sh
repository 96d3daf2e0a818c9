#!/usr/bin/env bash
# The test suite: installs dependencies, builds, runs every GoogleTest test via
# CTest (unit + integration), then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the lock-free word cache's
# tests under ThreadSanitizer, then fuzzes every file parser for a bounded time
# (fuzz/README.md says how to run the fuzzers longer).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"
start=$SECONDS
phase() { echo "== $* (at $((SECONDS - start)) s)"; }

phase "release build + tests"
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$jobs"

phase "ASan + UBSan build + unit tests"
# -O2 without debug info keeps the build short on 2 cores; frame pointers keep reports readable.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -fno-omit-frame-pointer" \
  -DKILN_SANITIZE=ON -DKILN_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs" --target kiln_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"
phase "ThreadSanitizer: the lock-free word cache shared by encoding threads"
cmake -S tests/tsan -B build-tsan >/dev/null
cmake --build build-tsan -j"$jobs"
# -R: without address-space randomisation TSan's shadow layout always fits.
TSAN_OPTIONS=halt_on_error=1 setarch "$(uname -m)" -R build-tsan/kiln_tsan_tests
phase "fuzzing every parser (FUZZ_SECONDS per target, default 20, one target per core)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" fuzz/run.sh
phase "all tests passed"
