#!/usr/bin/env bash
# GPT-2 encoding throughput: kiln (1 and 2 threads) against js-tiktoken (node).
#
#   bench/tokenizer_throughput.sh [--repeat N] [--build DIR] [--jstok DIR]
#                                 [--include-zh] [--input FILE] [--max-bytes N]
#
# The text is every English fortune file (/usr/share/games/fortunes, see
# bench/fortune_files.sh; --include-zh adds the Chinese fortunes-zh files for
# the full 4.8 MB) concatenated into a temporary file, or FILE with --input;
# --max-bytes cuts it (for a quick check that the script works). Each program
# encodes the whole text N times (default 5) and reports the median MB/s
# (MB = 10^6 bytes of input). kiln's runs alternate 1 and 2 threads in one
# process and the 2-thread speed-up is the median over rounds of the ratio of
# a round's two runs (the machine's speed drifts; alternating cancels it).
# kiln's word cache is cleared before every run
# (js-tiktoken has none); kiln's ids are checked against a plain encode and
# compared with js-tiktoken's, token for token.
#
# Needs: the bench_tokenizer target (built here into DIR, default ./build, if
# missing), node, and js-tiktoken installed outside the repository:
#   mkdir -p /tmp/jstok && npm install --prefix /tmp/jstok js-tiktoken
# Run from the repository root on an otherwise idle machine.
set -euo pipefail

repeat=5 build=build jstok=/tmp/jstok include_zh=0 input="" max_bytes=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --repeat) repeat=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jstok) jstok=$2; shift 2 ;;
    --include-zh) include_zh=1; shift ;;
    --input) input=$2; shift 2 ;;
    --max-bytes) max_bytes=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fixtures=tests/fixtures/text
bench_bin=$build/bench/bench_tokenizer
if [[ ! -x $bench_bin ]]; then
  echo "building bench_tokenizer in $build ..." >&2
  cmake --build "$build" --target bench_tokenizer -j2 >&2
fi
command -v node >/dev/null || { echo "error: node not found" >&2; exit 1; }
if [[ ! -f $jstok/node_modules/js-tiktoken/package.json ]]; then
  echo "error: js-tiktoken not found in $jstok; run: mkdir -p $jstok && npm install --prefix $jstok js-tiktoken" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-tokbench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
corpus=$tmp/corpus.txt
if [[ -n $input ]]; then
  cp -- "$input" "$corpus"
  source_desc=$input
else
  source "$root/bench/fortune_files.sh"
  mapfile -t files < <(fortune_files /usr/share/games/fortunes "$include_zh")
  [[ ${#files[@]} -gt 0 ]] || { echo "error: no fortune files (apt-get install fortunes)" >&2; exit 1; }
  cat -- "${files[@]}" >"$corpus"
  source_desc="${#files[@]} fortune files from /usr/share/games/fortunes"
  [[ $include_zh == 1 ]] && source_desc+=" (with fortunes-zh)"
fi
if [[ $max_bytes -gt 0 ]]; then
  head -c "$max_bytes" "$corpus" >"$corpus.cut"
  # Do not end inside a UTF-8 character: drop a trailing partial sequence.
  iconv -f UTF-8 -t UTF-8 -c <"$corpus.cut" >"$corpus" 2>/dev/null || cp "$corpus.cut" "$corpus"
fi
bytes=$(stat -c %s "$corpus")
echo "text: $source_desc, $bytes bytes; $repeat runs each; $(nproc) CPU cores" >&2

field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"; }

# One process, runs alternating 1 and 2 threads (see bench/tokenizer_bench.cpp).
kiln_out=$("$bench_bin" --text "$corpus" --gpt2-dir "$fixtures" --threads 1,2 --repeat "$repeat" --ids-out "$tmp/kiln.ids")
k1=$(grep '^kiln threads=1 ' <<<"$kiln_out")
k2=$(grep '^kiln threads=2 ' <<<"$kiln_out")
scaling=$(grep '^kiln_scaling ' <<<"$kiln_out")
js=$(node bench/js_tiktoken_bench.mjs --text "$corpus" --repeat "$repeat" --jstok "$jstok" --ids-out "$tmp/js.ids")

printf '\n%-14s %7s %12s %12s %12s %10s\n' implementation threads "median MB/s" "min MB/s" "max MB/s" tokens
for line in "$k1" "$k2" "$js"; do
  printf '%-14s %7s %12s %12s %12s %10s\n' "${line%% *}" "$(field threads "$line")" "$(field median_mb_s "$line")" \
    "$(field min_mb_s "$line")" "$(field max_mb_s "$line")" "$(field tokens "$line")"
done
echo "js-tiktoken $(field version "$js"), node $(node --version)"
echo "kiln 2 threads over 1 thread, per round: median $(field median_ratio "$scaling")x" \
  "(min $(field min_ratio "$scaling"), max $(field max_ratio "$scaling"))"
k1_median=$(field median_mb_s "$k1") js_median=$(field median_mb_s "$js")
echo "kiln 1 thread over js-tiktoken: $(awk -v a="$k1_median" -v b="$js_median" 'BEGIN { printf "%.1f", a / b }')x"

t1=$(field tokens "$k1") t2=$(field tokens "$k2") tj=$(field tokens "$js")
if [[ $t1 == "$t2" && $t1 == "$tj" ]] && cmp -s "$tmp/kiln.ids" "$tmp/js.ids"; then
  echo "token ids: kiln and js-tiktoken agree ($t1 tokens, identical ids)"
else
  echo "error: token mismatch: kiln $t1 / $t2 tokens, js-tiktoken $tj tokens" >&2
  cmp "$tmp/kiln.ids" "$tmp/js.ids" >&2 || true
  exit 1
fi
