#pragma once
// Raw Unicode Character Database tables, generated into unicode_tables.cpp by
// gen_unicode_tables.py. Use the functions in unicode.h, not these directly.
#include <cstdint>
#include <span>

namespace kiln::text::detail {

/// A run of code points sharing one general category; it ends where the next run starts.
struct CategoryRun {
  char32_t first;
  std::uint8_t category;  // index into kiln::text::Category
};
struct CodeRange {
  char32_t first;
  char32_t last;  // inclusive
};
struct CodeMap {
  char32_t from;
  char32_t to;
};
/// A lowercase mapping to up to three code points (unused slots are 0).
struct SpecialLower {
  char32_t from;
  char32_t to[3];
};
/// Full canonical decomposition of `cp`: kDecompData[offset, offset + length).
struct DecompEntry {
  char32_t cp;
  std::uint16_t offset;
  std::uint8_t length;
};
struct CombiningRun {
  char32_t first;
  char32_t last;  // inclusive
  std::uint8_t ccc;
};

extern const std::span<const CategoryRun> kCategoryRuns;
extern const std::span<const CodeRange> kWhiteSpaceRanges;
extern const std::span<const CodeRange> kCasedRanges;
extern const std::span<const CodeRange> kCaseIgnorableRanges;
extern const std::span<const CodeMap> kLowerSimple;
extern const std::span<const SpecialLower> kLowerSpecial;
extern const std::span<const DecompEntry> kDecompIndex;
extern const std::span<const char32_t> kDecompData;
extern const std::span<const CombiningRun> kCombiningRuns;

}  // namespace kiln::text::detail
