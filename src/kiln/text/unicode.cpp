#include "kiln/text/unicode.h"

#include <algorithm>
#include <array>
#include <memory>

#include "kiln/core/error.h"
#include "kiln/text/unicode_tables.h"

namespace kiln::text {

namespace {

Category category_by_search(char32_t cp) {
  const auto runs = detail::kCategoryRuns;
  // The last run whose first code point is <= cp.
  const auto it = std::upper_bound(runs.begin(), runs.end(), cp,
                                   [](char32_t c, const detail::CategoryRun& r) { return c < r.first; });
  return static_cast<Category>(std::prev(it)->category);
}

// The Basic Multilingual Plane holds nearly every character real text uses, so
// its categories are expanded once into a 64 KiB table for O(1) lookups.
const std::array<Category, 0x10000>& bmp_categories() {
  static const std::unique_ptr<std::array<Category, 0x10000>> table = [] {
    auto t = std::make_unique<std::array<Category, 0x10000>>();
    const auto runs = detail::kCategoryRuns;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const char32_t first = runs[r].first;
      if (first >= 0x10000) break;
      const char32_t end = r + 1 < runs.size() ? std::min<char32_t>(runs[r + 1].first, 0x10000) : 0x10000;
      std::fill(t->begin() + first, t->begin() + end, static_cast<Category>(runs[r].category));
    }
    return t;
  }();
  return *table;
}

template <class Entry, class Key>
const Entry* find_exact(std::span<const Entry> table, char32_t cp, Key key) {
  const auto it = std::lower_bound(table.begin(), table.end(), cp,
                                   [&](const Entry& e, char32_t c) { return key(e) < c; });
  return it != table.end() && key(*it) == cp ? &*it : nullptr;
}

bool in_ranges(std::span<const detail::CodeRange> ranges, char32_t cp) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                   [](char32_t c, const detail::CodeRange& r) { return c < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}

constexpr char32_t kHangulBase = 0xAC00, kHangulCount = 11172;
constexpr char32_t kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;

}  // namespace

Category general_category(char32_t cp) {
  if (cp < 0x10000) return bmp_categories()[cp];
  if (cp > 0x10FFFF) return Category::Cn;
  return category_by_search(cp);
}

const char* category_name(Category c) {
  static constexpr const char* kNames[] = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl",
                                           "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc",
                                           "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};
  return kNames[static_cast<int>(c)];
}

bool is_white_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  for (const auto& r : detail::kWhiteSpaceRanges) {
    if (cp < r.first) return false;
    if (cp <= r.last) return true;
  }
  return false;
}

std::uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto runs = detail::kCombiningRuns;
  const auto it = std::upper_bound(runs.begin(), runs.end(), cp,
                                   [](char32_t c, const detail::CombiningRun& r) { return c < r.first; });
  if (it == runs.begin()) return 0;
  const auto& r = *std::prev(it);
  return cp <= r.last ? r.ccc : 0;
}

bool is_cased(char32_t cp) { return in_ranges(detail::kCasedRanges, cp); }
bool is_case_ignorable(char32_t cp) { return in_ranges(detail::kCaseIgnorableRanges, cp); }

std::u32string to_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != 0x3A3) {
      append_lower(out, s[i]);
      continue;
    }
    // Final_Sigma: \p{Cased} \p{Case_Ignorable}* Σ, not followed by \p{Case_Ignorable}* \p{Cased}.
    std::size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1])) --j;
    bool final_sigma = j > 0 && is_cased(s[j - 1]);
    if (final_sigma) {
      std::size_t k = i + 1;
      while (k < s.size() && is_case_ignorable(s[k])) ++k;
      final_sigma = k == s.size() || !is_cased(s[k]);
    }
    out.push_back(final_sigma ? 0x3C2 : 0x3C3);
  }
  return out;
}

void append_lower(std::u32string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (const auto* s = find_exact(detail::kLowerSpecial, cp, [](const detail::SpecialLower& e) { return e.from; })) {
    for (const char32_t c : s->to) {
      if (c != 0) out.push_back(c);
    }
    return;
  }
  const auto* m = find_exact(detail::kLowerSimple, cp, [](const detail::CodeMap& e) { return e.from; });
  out.push_back(m != nullptr ? m->to : cp);
}

void append_canonical_decomposition(std::u32string& out, char32_t cp) {
  if (cp < 0xC0) {
    out.push_back(cp);
    return;
  }
  if (cp >= kHangulBase && cp < kHangulBase + kHangulCount) {
    // Hangul syllables decompose algorithmically (Unicode ch. 3.12).
    const char32_t s = cp - kHangulBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* e = find_exact(detail::kDecompIndex, cp, [](const detail::DecompEntry& d) { return d.cp; });
  if (e == nullptr) {
    out.push_back(cp);
    return;
  }
  const auto seq = detail::kDecompData.subspan(e->offset, e->length);
  out.append(seq.begin(), seq.end());
}

std::u32string nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (const char32_t cp : s) append_canonical_decomposition(out, cp);
  // Canonical ordering: stable-sort each run of non-starters by combining class.
  std::size_t i = 0;
  while (i < out.size()) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i), out.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::u32string utf8_to_u32(std::string_view s, std::string_view what) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Char c = decode_utf8(s, i);
    if (!c.valid) {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto b = static_cast<unsigned char>(s[i]);
      throw Error(std::string(what) + ": invalid UTF-8 byte 0x" + kHex[b >> 4] + kHex[b & 15] + " at byte offset " +
                  std::to_string(i));
    }
    out.push_back(c.cp);
    i += c.len;
  }
  return out;
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char32_t cp : s) append_utf8(out, cp);
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Char c = decode_utf8(s, i);
    if (!c.valid) return false;
    i += c.len;
  }
  return true;
}

}  // namespace kiln::text
