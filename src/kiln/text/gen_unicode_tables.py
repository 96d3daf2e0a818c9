#!/usr/bin/env python3
"""Generates src/kiln/text/unicode_tables.cpp from the Unicode Character Database.

The build never runs this script; its output is committed. Re-run it only to
move to a newer Unicode version:

    apt-get install unicode-data        # Debian: /usr/share/unicode/*.txt
    python3 src/kiln/text/gen_unicode_tables.py [/usr/share/unicode] > src/kiln/text/unicode_tables.cpp

Tables emitted (all sorted by code point, searched with binary search):
  kCategoryRuns      (first code point, general category) for every run of equal
                     category covering U+0000..U+10FFFF; unassigned = Cn.
  kWhiteSpaceRanges  [first, last] of the White_Space property (PropList.txt).
  kCasedRanges, kCaseIgnorableRanges
                     the Cased and Case_Ignorable properties (DerivedCoreProperties.txt),
                     for the Final_Sigma rule of lowercasing.
  kLowerSimple       (code point, simple lowercase) from UnicodeData field 13.
  kLowerSpecial      unconditional multi-code-point lowercase from SpecialCasing.txt.
  kDecompIndex/kDecompData
                     full (recursively expanded) canonical decompositions,
                     excluding Hangul syllables (decomposed algorithmically).
  kCombiningRuns     [first, last, class] for canonical combining class != 0.
"""
import os
import re
import sys

CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
              "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
              "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]


def read_unicode_data(path):
    """Returns {code point: fields} with First/Last ranges expanded lazily as (lo, hi, fields)."""
    singles = {}
    ranges = []
    pending = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            cp = int(fields[0], 16)
            name = fields[1]
            if name.endswith(", First>"):
                pending = (cp, fields)
                continue
            if name.endswith(", Last>"):
                ranges.append((pending[0], cp, pending[1]))
                pending = None
                continue
            singles[cp] = fields
    return singles, ranges


def category_runs(singles, ranges):
    cat = ["Cn"] * 0x110000
    for cp, fields in singles.items():
        cat[cp] = fields[2]
    for lo, hi, fields in ranges:
        for cp in range(lo, hi + 1):
            cat[cp] = fields[2]
    runs = []
    prev = None
    for cp in range(0x110000):
        if cat[cp] != prev:
            runs.append((cp, cat[cp]))
            prev = cat[cp]
    return runs


def property_ranges(path, wanted):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, prop = [p.strip() for p in line.split(";")]
            if prop != wanted:
                continue
            if ".." in rng:
                lo, hi = (int(x, 16) for x in rng.split(".."))
            else:
                lo = hi = int(rng, 16)
            out.append((lo, hi))
    out.sort()
    merged = []
    for lo, hi in out:
        if merged and merged[-1][1] + 1 == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def special_lower(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            body = line.split("#")[0].strip()
            if not body:
                continue
            parts = [p.strip() for p in body.split(";")]
            # Unconditional mappings have an empty condition list (fifth field).
            if len(parts) >= 5 and parts[4]:
                continue
            cp = int(parts[0], 16)
            lower = [int(x, 16) for x in parts[1].split()]
            if len(lower) > 1:
                out.append((cp, lower))
    return sorted(out)


def decompositions(singles):
    raw = {}
    for cp, fields in singles.items():
        d = fields[5]
        if d and not d.startswith("<"):
            raw[cp] = [int(x, 16) for x in d.split()]

    def expand(cp):
        if cp not in raw:
            return [cp]
        out = []
        for c in raw[cp]:
            out.extend(expand(c))
        return out

    return {cp: expand(cp) for cp in sorted(raw)}


def combining_runs(singles, ranges):
    ccc = {}
    for cp, fields in singles.items():
        if int(fields[3]) != 0:
            ccc[cp] = int(fields[3])
    for lo, hi, fields in ranges:
        if int(fields[3]) != 0:
            for cp in range(lo, hi + 1):
                ccc[cp] = int(fields[3])
    runs = []
    for cp in sorted(ccc):
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == ccc[cp]:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, ccc[cp]])
    return runs


def emit_rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    version = "unknown"
    readme = os.path.join(ucd, "ReadMe.txt")
    if os.path.exists(readme):
        for line in open(readme, encoding="utf-8"):
            m = re.search(r"Version (\d+\.\d+\.\d+)", line)
            if m:
                version = "Unicode " + m.group(1)
                break
    singles, ranges = read_unicode_data(os.path.join(ucd, "UnicodeData.txt"))
    runs = category_runs(singles, ranges)
    ws = property_ranges(os.path.join(ucd, "PropList.txt"), "White_Space")
    cased = property_ranges(os.path.join(ucd, "DerivedCoreProperties.txt"), "Cased")
    ignorable = property_ranges(os.path.join(ucd, "DerivedCoreProperties.txt"), "Case_Ignorable")
    lower = sorted((cp, int(f[13], 16)) for cp, f in singles.items() if f[13])
    lower_special = special_lower(os.path.join(ucd, "SpecialCasing.txt"))
    decomp = decompositions(singles)
    ccc = combining_runs(singles, ranges)

    out = []
    out.append("// GENERATED by src/kiln/text/gen_unicode_tables.py from the Unicode Character")
    out.append("// Database (" + version + "). Do not edit by hand.")
    out.append('#include "kiln/text/unicode_tables.h"')
    out.append("")
    out.append("namespace kiln::text::detail {")
    out.append("")
    out.append("namespace {")
    out.append("constexpr CategoryRun kCategoryRunsData[] = {")
    out.append(emit_rows(["{0x%X, %d}," % (cp, CATEGORIES.index(c)) for cp, c in runs], 8))
    out.append("};")
    out.append("constexpr CodeRange kWhiteSpaceData[] = {")
    out.append(emit_rows(["{0x%X, 0x%X}," % r for r in ws], 8))
    out.append("};")
    out.append("constexpr CodeRange kCasedData[] = {")
    out.append(emit_rows(["{0x%X, 0x%X}," % r for r in cased], 8))
    out.append("};")
    out.append("constexpr CodeRange kCaseIgnorableData[] = {")
    out.append(emit_rows(["{0x%X, 0x%X}," % r for r in ignorable], 8))
    out.append("};")
    out.append("constexpr CodeMap kLowerSimpleData[] = {")
    out.append(emit_rows(["{0x%X, 0x%X}," % p for p in lower], 8))
    out.append("};")
    out.append("constexpr SpecialLower kLowerSpecialData[] = {")
    out.append(emit_rows(["{0x%X, {%s}}," % (cp, ", ".join("0x%X" % c for c in (l + [0, 0, 0])[:3]))
                          for cp, l in lower_special], 4))
    out.append("};")
    flat = []
    index = []
    for cp, seq in decomp.items():
        index.append((cp, len(flat), len(seq)))
        flat.extend(seq)
    out.append("constexpr DecompEntry kDecompIndexData[] = {")
    out.append(emit_rows(["{0x%X, %d, %d}," % e for e in index], 6))
    out.append("};")
    out.append("constexpr char32_t kDecompFlatData[] = {")
    out.append(emit_rows(["0x%X," % c for c in flat], 12))
    out.append("};")
    out.append("constexpr CombiningRun kCombiningData[] = {")
    out.append(emit_rows(["{0x%X, 0x%X, %d}," % tuple(r) for r in ccc], 6))
    out.append("};")
    out.append("}  // namespace")
    out.append("")
    out.append("const std::span<const CategoryRun> kCategoryRuns{kCategoryRunsData};")
    out.append("const std::span<const CodeRange> kWhiteSpaceRanges{kWhiteSpaceData};")
    out.append("const std::span<const CodeRange> kCasedRanges{kCasedData};")
    out.append("const std::span<const CodeRange> kCaseIgnorableRanges{kCaseIgnorableData};")
    out.append("const std::span<const CodeMap> kLowerSimple{kLowerSimpleData};")
    out.append("const std::span<const SpecialLower> kLowerSpecial{kLowerSpecialData};")
    out.append("const std::span<const DecompEntry> kDecompIndex{kDecompIndexData};")
    out.append("const std::span<const char32_t> kDecompData{kDecompFlatData};")
    out.append("const std::span<const CombiningRun> kCombiningRuns{kCombiningData};")
    out.append("")
    out.append("}  // namespace kiln::text::detail")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
