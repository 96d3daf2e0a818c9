#!/usr/bin/env bash
# Configures and builds kiln into build/ (Release).
# Usage: scripts/build.sh [--target T ...] [-- extra cmake configure args]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  case "$1" in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ ${1:-} == "--" ]] && shift
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)" "${targets[@]}"
