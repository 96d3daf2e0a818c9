#pragma once
// Unicode character properties and UTF-8 handling for the tokenizers. The
// property data comes from the Unicode Character Database (see
// gen_unicode_tables.py); no locale or ICU is involved, so results are the same
// on every machine.
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::text {

/// Unicode general category. The order matches gen_unicode_tables.py.
enum class Category : std::uint8_t {
  Lu, Ll, Lt, Lm, Lo,
  Mn, Mc, Me,
  Nd, Nl, No,
  Pc, Pd, Ps, Pe, Pi, Pf, Po,
  Sm, Sc, Sk, So,
  Zs, Zl, Zp,
  Cc, Cf, Cs, Co, Cn
};

Category general_category(char32_t cp);
/// Two-letter name ("Lu", "Nd", ...).
const char* category_name(Category c);

inline bool is_letter_category(Category c) { return c <= Category::Lo; }
inline bool is_mark_category(Category c) { return c >= Category::Mn && c <= Category::Me; }
inline bool is_number_category(Category c) { return c >= Category::Nd && c <= Category::No; }
inline bool is_punctuation_category(Category c) { return c >= Category::Pc && c <= Category::Po; }
inline bool is_other_category(Category c) { return c >= Category::Cc; }

/// \p{L}: general category L*.
inline bool is_letter(char32_t cp) { return is_letter_category(general_category(cp)); }
/// \p{N}: general category N*.
inline bool is_number(char32_t cp) { return is_number_category(general_category(cp)); }
/// The White_Space property (what \s matches in Unicode-aware regex engines).
bool is_white_space(char32_t cp);

/// Canonical combining class (0 for starters).
std::uint8_t combining_class(char32_t cp);

/// The Cased and Case_Ignorable properties (used by the Final_Sigma rule).
bool is_cased(char32_t cp);
bool is_case_ignorable(char32_t cp);

/// Appends the full lowercase mapping of cp (usually one code point; U+0130
/// gives two). Context-free: capital sigma always becomes U+03C3.
void append_lower(std::u32string& out, char32_t cp);
/// Lowercases a string like Python's str.lower() and Rust's to_lowercase():
/// full mappings plus the Final_Sigma rule (Σ at the end of a word -> ς).
std::u32string to_lower(std::u32string_view s);
/// Appends the canonical decomposition (NFD) of cp, without reordering.
void append_canonical_decomposition(std::u32string& out, char32_t cp);
/// Canonical Decomposition (NFD) of a whole string, with canonical reordering.
std::u32string nfd(std::u32string_view s);

/// One decoded UTF-8 character. For a byte that does not start a well-formed
/// sequence (stray continuation, overlong form, surrogate, > U+10FFFF,
/// truncation) `valid` is false, `len` is 1 and `cp` is the byte value.
struct Utf8Char {
  char32_t cp;
  std::uint32_t len;
  bool valid;
};

/// Decodes the character starting at s[i] (i < s.size()).
inline Utf8Char decode_utf8(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  const std::size_t left = s.size() - i;
  auto cont = [&](std::size_t k) { return (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto byte = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (left >= 2 && cont(1)) return {((b0 & 0x1Fu) << 6) | byte(1), 2, true};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (left >= 3 && cont(1) && cont(2)) {
      const char32_t cp = ((b0 & 0x0Fu) << 12) | (byte(1) << 6) | byte(2);
      if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3, true};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (left >= 4 && cont(1) && cont(2) && cont(3)) {
      const char32_t cp = ((b0 & 0x07u) << 18) | (byte(1) << 12) | (byte(2) << 6) | byte(3);
      if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4, true};
    }
  }
  return {b0, 1, false};
}

/// Start of the character that ends just before byte offset `end` (0 < end <=
/// s.size()), as a forward decode from any earlier character boundary sees it:
/// the start of a well-formed sequence ending exactly at `end`, else end - 1
/// (a byte that ends no valid character is a character of its own).
inline std::size_t utf8_char_start_before(std::string_view s, std::size_t end) {
  std::size_t j = end - 1;
  const std::size_t stop = end >= 4 ? end - 4 : 0;
  while (j > stop && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  const Utf8Char c = decode_utf8(s, j);
  return c.valid && j + c.len == end ? j : end - 1;
}

/// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string& out, char32_t cp);
/// Decodes UTF-8 into code points; throws kiln::Error naming `what` and the byte
/// offset of the first ill-formed sequence.
std::u32string utf8_to_u32(std::string_view s, std::string_view what);
std::string u32_to_utf8(std::u32string_view s);
/// True when every byte of s belongs to a well-formed UTF-8 sequence.
bool is_valid_utf8(std::string_view s);

}  // namespace kiln::text
