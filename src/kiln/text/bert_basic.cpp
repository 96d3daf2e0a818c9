#include "kiln/text/bert_basic.h"

#include "kiln/text/unicode.h"

namespace kiln::text {

namespace {
// An invalid input byte b travels through normalization as this code point
// (outside Unicode, so no table maps or merges it) and leaves as the raw byte.
constexpr char32_t kRawByteBase = 0x110000;
bool is_raw_byte(char32_t cp) { return cp >= kRawByteBase; }

bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return is_other_category(general_category(cp));
}
}  // namespace

bool is_bert_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
    return true;
  }
  return is_punctuation_category(general_category(cp));
}

std::vector<std::string> bert_basic_tokenize(std::string_view text, const BertBasicOptions& options) {
  std::u32string s;
  s.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const Utf8Char c = decode_utf8(text, i);
    i += c.len;
    if (!c.valid) {
      s.push_back(kRawByteBase + c.cp);
      continue;
    }
    const char32_t cp = c.cp;
    if (options.clean_text) {
      if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
      if (cp == '\t' || cp == '\n' || cp == '\r' || is_white_space(cp)) {
        s.push_back(' ');
        continue;
      }
    }
    if (options.handle_chinese_chars && is_bert_chinese_char(cp)) {
      s.push_back(' ');
      s.push_back(cp);
      s.push_back(' ');
      continue;
    }
    s.push_back(cp);
  }

  if (options.strip_accents.value_or(options.lowercase)) {
    std::u32string stripped;
    stripped.reserve(s.size());
    for (const char32_t cp : nfd(s)) {
      if (is_raw_byte(cp) || general_category(cp) != Category::Mn) stripped.push_back(cp);
    }
    s = std::move(stripped);
  }
  // Raw-byte markers have no case mapping and are neither cased nor
  // case-ignorable, so they pass through unchanged.
  if (options.lowercase) s = to_lower(s);

  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (const char32_t cp : s) {
    if (is_raw_byte(cp)) {
      flush();
      words.emplace_back(1, static_cast<char>(cp - kRawByteBase));
    } else if (cp == '\t' || cp == '\n' || cp == '\r' || is_white_space(cp)) {
      flush();
    } else if (is_bert_punctuation(cp)) {
      flush();
      append_utf8(word, cp);
      flush();
    } else {
      append_utf8(word, cp);
    }
  }
  flush();
  return words;
}

}  // namespace kiln::text
