#!/usr/bin/env bash
# Trains kiln's byte-level BPE on 90% of the English fortunes and reports
# bytes per token on the held-out 10%, for the trained tokenizer and GPT-2.
#
#   bench/bpe_trainer_report.sh [--vocab-size N] [--min-frequency N] [--build DIR]
#                               [--include-zh] [--max-entries N] [--keep DIR]
#
# Corpus: the fortune files of bench/fortune_files.sh (English unless
# --include-zh), in name order. Split by entry, deterministically: entries are
# numbered across the files and every tenth (9, 19, ...) is held out. Defaults:
# vocabulary 8192 (with <|endoftext|> as a special token), min frequency 2. The
# trained tokenizer.json is saved, loaded back, and must encode every held-out
# entry exactly as the in-memory tokenizer does (the program exits 1 if not).
# `kiln tokenize count` with the saved file is run on the held-out text as a
# cross-check of the CLI. --max-entries limits the corpus (quick check);
# --keep DIR keeps tokenizer.json and the held-out text in DIR.
#
# Needs the bench_bpe_report and kiln targets (built into DIR, default ./build,
# if missing). Run from the repository root.
set -euo pipefail

vocab=8192 minfreq=2 build=build include_zh=0 max_entries=0 keep=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --vocab-size) vocab=$2; shift 2 ;;
    --min-frequency) minfreq=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --include-zh) include_zh=1; shift ;;
    --max-entries) max_entries=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for target in bench_bpe_report kiln; do
  bin=$build/bench/$target
  [[ $target == kiln ]] && bin=$build/src/kiln
  if [[ ! -x $bin ]]; then
    echo "building $target in $build ..." >&2
    cmake --build "$build" --target "$target" -j2 >&2
  fi
done

if [[ -n $keep ]]; then
  mkdir -p "$keep"
  out=$keep
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bpereport-XXXXXX")
  trap 'rm -rf "$out"' EXIT
fi

source "$root/bench/fortune_files.sh"
mapfile -t files < <(fortune_files /usr/share/games/fortunes "$include_zh")
[[ ${#files[@]} -gt 0 ]] || { echo "error: no fortune files (apt-get install fortunes)" >&2; exit 1; }
echo "files: ${files[*]##*/}"

"$build/bench/bench_bpe_report" --vocab-size "$vocab" --min-frequency "$minfreq" \
  --gpt2-dir tests/fixtures/text --out "$out" --max-entries "$max_entries" "${files[@]}"

# CLI cross-check: the same held-out entries (every tenth, as above), joined
# into one file. Counting a joined file is not the per-entry count above (the
# separators are text too), so this only shows the CLI loads and uses the file.
awk -v max="$max_entries" '
  FNR == 1 && NR > 1 { flush() }
  /^%$/ { flush(); next }
  { buf = buf (have ? "\n" : "") $0; have = 1 }
  END { flush() }
  function flush() {
    if (have || buf != "") {
      if (max == 0 || k < max) { if (k % 10 == 9) printf "%s\n", buf > held; k++ }
    }
    buf = ""; have = 0
  }' held="$out/heldout.txt" "${files[@]}"
echo
echo "kiln tokenize count on the held-out entries joined by newlines:"
"$build/src/kiln" tokenize count --tokenizer "$out/tokenizer.json" "$out/heldout.txt"
"$build/src/kiln" tokenize count --tokenizer gpt2 --vocab tests/fixtures/text/encoder.json \
  --merges tests/fixtures/text/vocab.bpe "$out/heldout.txt"
