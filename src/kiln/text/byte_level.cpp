#include "kiln/text/byte_level.h"

namespace kiln::text {

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

int unicode_to_byte(char32_t cp) {
  // The alphabet lives in U+0000..U+0143, so a flat inverse table is enough.
  static const std::array<short, 0x144> inverse = [] {
    std::array<short, 0x144> t{};
    t.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[static_cast<std::size_t>(b)]] = static_cast<short>(b);
    return t;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& fwd = byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) append_utf8(out, fwd[static_cast<unsigned char>(ch)]);
  return out;
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < token.size();) {
    const Utf8Char c = decode_utf8(token, i);
    if (!c.valid) return false;
    const int b = unicode_to_byte(c.cp);
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += c.len;
  }
  return true;
}

}  // namespace kiln::text
