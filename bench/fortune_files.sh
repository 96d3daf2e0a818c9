# Sourced by the tokenizer benchmark scripts: lists fortune text files.
#
#   fortune_files DIR INCLUDE_ZH
#
# prints, one per line and sorted by name (C locale), the regular files directly
# in DIR, skipping the strfile indexes (*.dat), the *.u8 links to the same texts
# and subdirectories such as off/. Unless INCLUDE_ZH is 1, the files of Debian's
# fortunes-zh package (Chinese: chinese, tang300, song100 - about 2.2 MB of the
# 4.8 MB) are left out so the corpus is English; the package's file list comes
# from dpkg when available, else from those three names.
fortune_files() {
  local dir=$1 include_zh=${2:-0}
  local -A zh=()
  if [[ $include_zh != 1 ]]; then
    local listed
    if listed=$(dpkg-query -L fortunes-zh 2>/dev/null); then
      while IFS= read -r f; do [[ $f == "$dir"/* ]] && zh[$(basename "$f")]=1; done <<<"$listed"
    fi
    zh[chinese]=1 zh[tang300]=1 zh[song100]=1
  fi
  local f name
  while IFS= read -r f; do
    name=$(basename "$f")
    [[ $name == *.dat || $name == *.u8 ]] && continue
    [[ -n ${zh[$name]:-} ]] && continue
    printf '%s\n' "$f"
  done < <(find "$dir" -mindepth 1 -maxdepth 1 -type f | LC_ALL=C sort)
}
