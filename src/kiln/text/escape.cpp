#include "kiln/text/escape.h"

#include <cstdio>

#include "kiln/text/unicode.h"

namespace kiln::text {
namespace {

/// The Bidi_Control characters (marks, embeddings, overrides, isolates) and
/// U+2028/U+2029, which some viewers break lines at.
bool is_invisible_layout_control(char32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void append_byte_escape(std::string& out, unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  out += buf;
}

void append_code_point_escape(std::string& out, char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(cp));
  out += buf;
}

}  // namespace

std::string escape_for_terminal(std::string_view s, const TerminalEscapeOptions& options) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const Utf8Char c = decode_utf8(s, i);
    if (!c.valid) {
      append_byte_escape(out, static_cast<unsigned char>(s[i]));
    } else if (c.cp < 0x80) {
      const char a = static_cast<char>(c.cp);
      if (a == '\t') {
        out += "\\t";
      } else if (a == '\n') {
        out += "\\n";
      } else if (a == '\r') {
        out += "\\r";
      } else if (c.cp < 0x20 || c.cp == 0x7F) {
        append_byte_escape(out, static_cast<unsigned char>(a));
      } else if ((a == '\\' && options.backslash) || (options.quote != '\0' && a == options.quote)) {
        out += '\\';
        out += a;
      } else {
        out += a;
      }
    } else if (c.cp <= 0x9F || is_invisible_layout_control(c.cp)) {
      append_code_point_escape(out, c.cp);
    } else {
      out.append(s, i, c.len);
    }
    i += c.len;
  }
  return out;
}

std::string quote_for_terminal(std::string_view s) {
  return '"' + escape_for_terminal(s, {.quote = '"'}) + '"';
}

}  // namespace kiln::text
