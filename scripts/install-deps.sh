#!/usr/bin/env bash
# Installs the Debian 12 packages kiln builds and runs with (apt-get only).
set -euo pipefail
packages=(
  build-essential cmake g++ pkg-config git
  libdnnl-dev            # GEMM (f32 AVX-512, bf16 AMX) — see README "Design"
  zlib1g-dev             # gzip for IDX data sets
  nlohmann-json3-dev     # JSON (safetensors headers, tokenizer.json, fixtures)
  libcli11-dev           # command line
  libtomlplusplus-dev    # TOML configs (kiln train CONFIG)
  libgtest-dev libbenchmark-dev
  clang lld libclang-rt-dev  # libFuzzer targets (fuzz/), built with clang + ASan/UBSan
  libcairo2-dev libfontconfig-dev  # PNG plots: training curves, latent scatter, image grids (kiln/plot)
  fonts-dejavu-core      # the font the plots' text is drawn in
  dataset-fashion-mnist  # default training data
  fortunes               # English texts in categories: the text-classification example, GPT demo (a)
  fortunes-zh            # Tang poems and Song lyrics: the character-level GPT demo (b)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
