#!/usr/bin/env bash
# kiln's main job on built-in default data: installs dependencies, builds, and
# trains the Fashion-MNIST MLP, printing progress and the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target kiln
exec build/src/kiln train "$@"
