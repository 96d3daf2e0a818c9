#pragma once
// GPT-2's byte-level alphabet and its regex pre-tokenizer, written by hand.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "kiln/text/unicode.h"

namespace kiln::text {

/// GPT-2's bytes_to_unicode(): each byte maps to a printable code point
/// (printable Latin-1 bytes map to themselves, the rest to U+0100 + n).
const std::array<char32_t, 256>& byte_to_unicode();
/// The inverse: code point -> byte, or -1 for code points outside the alphabet.
int unicode_to_byte(char32_t cp);
/// Maps raw bytes to the UTF-8 of their byte-level characters ("Ġhello" for " hello").
std::string bytes_to_byte_level(std::string_view bytes);
/// Inverse of bytes_to_byte_level. Returns false (leaving `out` unspecified) when
/// `token` contains a character outside the byte-level alphabet or is not UTF-8.
bool byte_level_to_bytes(std::string_view token, std::string& out);

namespace detail {
enum class CharClass : unsigned char { letter, number, space, other };

constexpr CharClass ascii_class(char32_t cp) {
  if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CharClass::letter;
  if (cp >= '0' && cp <= '9') return CharClass::number;
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::space;
  return CharClass::other;
}

inline CharClass classify(const Utf8Char& c) {
  if (c.cp < 0x80) return ascii_class(c.cp);  // ASCII bytes are always valid
  // An invalid byte is its own character that is neither letter, number nor space.
  if (!c.valid) return CharClass::other;
  const Category cat = general_category(c.cp);
  if (is_letter_category(cat)) return CharClass::letter;
  if (is_number_category(cat)) return CharClass::number;
  if (is_white_space(c.cp)) return CharClass::space;
  return CharClass::other;
}

/// The class of each ASCII byte, so the common case needs no UTF-8 decoding.
inline constexpr std::array<CharClass, 128> kAsciiClass = [] {
  std::array<CharClass, 128> t{};
  for (char32_t cp = 0; cp < 128; ++cp) t[cp] = ascii_class(cp);
  return t;
}();

/// The class of the character at s[i], and its length in bytes.
inline std::pair<CharClass, std::size_t> class_at(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return {kAsciiClass[b], 1};
  const Utf8Char c = decode_utf8(s, i);
  return {classify(c), c.len};
}

/// End (byte offset) of the run of characters of class `cls` starting at i.
inline std::size_t run_end(std::string_view s, std::size_t i, CharClass cls) {
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (kAsciiClass[b] != cls) break;
      ++i;
      continue;
    }
    const auto [c, len] = class_at(s, i);
    if (c != cls) break;
    i += len;
  }
  return i;
}
}  // namespace detail

/// Splits `text` exactly as GPT-2's pattern
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// does (leftmost alternative wins, each quantifier greedy with backtracking),
/// calling emit(begin, end) with byte offsets of every piece in order. The
/// pieces cover the text exactly; bytes that are not valid UTF-8 count as
/// characters outside \s, \p{L} and \p{N}.
template <class Emit>
void gpt2_pretokenize(std::string_view s, Emit&& emit) {
  using detail::CharClass;
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const char b = s[i];
    // Contractions: 's 't 'm 'd 're 've 'll (case-sensitive, as in GPT-2).
    if (b == '\'' && i + 1 < n) {
      const char b1 = s[i + 1];
      if (b1 == 's' || b1 == 't' || b1 == 'm' || b1 == 'd') {
        emit(i, i + 2);
        i += 2;
        continue;
      }
      if (i + 2 < n) {
        const char b2 = s[i + 2];
        if ((b1 == 'r' && b2 == 'e') || (b1 == 'v' && b2 == 'e') || (b1 == 'l' && b2 == 'l')) {
          emit(i, i + 3);
          i += 3;
          continue;
        }
      }
    }
    CharClass cls = detail::class_at(s, i).first;
    std::size_t body = i;  // where the letter/number/other run starts
    if (b == ' ' && i + 1 < n) {
      // " ?X+": an optional single space glued to the run that follows it.
      const CharClass next = detail::class_at(s, i + 1).first;
      if (next != CharClass::space) {
        cls = next;
        body = i + 1;
      }
    }
    if (cls != CharClass::space) {
      const std::size_t end = detail::run_end(s, body, cls);
      emit(i, end);
      i = end;
      continue;
    }
    // \s+(?!\S) then \s+: a whitespace run, minus its last character when a
    // non-space follows (that character then prefixes the next piece).
    std::size_t end = i;
    std::size_t last = i;  // start of the last whitespace character
    while (end < n) {
      const auto [w, len] = detail::class_at(s, end);
      if (w != CharClass::space) break;
      last = end;
      end += len;
    }
    if (end < n && last > i) end = last;
    emit(i, end);
    i = end;
  }
}

}  // namespace kiln::text
