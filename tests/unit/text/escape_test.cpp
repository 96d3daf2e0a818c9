#include "kiln/text/escape.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kiln/text/unicode.h"

namespace kiln::text {
namespace {

/// The inverse of escape_for_terminal, written independently of it: reads the
/// escapes the header lists. Fails the test on anything else after a backslash.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    const char k = s.at(++i);
    if (k == '\\' || k == '"') {
      out += k;
    } else if (k == 'n' || k == 't' || k == 'r') {
      out += k == 'n' ? '\n' : k == 't' ? '\t' : '\r';
    } else if (k == 'x') {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (k == 'u') {
      EXPECT_EQ(s.at(i + 1), '{') << s;
      const std::size_t close = s.find('}', i);
      append_utf8(out, static_cast<char32_t>(std::stoul(s.substr(i + 2, close - i - 2), nullptr, 16)));
      i = close;
    } else {
      ADD_FAILURE() << "unknown escape \\" << k << " in " << s;
    }
  }
  return out;
}

/// What a terminal must never receive: C0 controls, DEL, C1 controls, bidi
/// controls and line separators, and bytes of ill-formed UTF-8.
void expect_terminal_safe(const std::string& shown, const std::string& from) {
  for (std::size_t i = 0; i < shown.size();) {
    const Utf8Char c = decode_utf8(shown, i);
    ASSERT_TRUE(c.valid) << "ill-formed UTF-8 at " << i << " of the escaped form of " << ::testing::PrintToString(from);
    EXPECT_FALSE(c.cp < 0x20 || (c.cp >= 0x7F && c.cp <= 0x9F))
        << "control U+" << std::hex << static_cast<unsigned>(c.cp);
    EXPECT_FALSE(c.cp == 0x061C || c.cp == 0x200E || c.cp == 0x200F || (c.cp >= 0x2028 && c.cp <= 0x202E) ||
                 (c.cp >= 0x2066 && c.cp <= 0x2069))
        << "bidi or separator U+" << std::hex << static_cast<unsigned>(c.cp);
    i += c.len;
  }
}

TEST(EscapeForTerminal, KeepsPrintableTextAsItIs) {
  for (const std::string s : {"", "model.layers.0.attn.q_proj.weight", "tokenizer.ggml.tokens", "a b ~!@#$%^&*()'",
                              "été 中文 🙂 Ġhello \xc2\xa0nbsp \xe2\x80\xaf narrow", "\xe2\x80\xa7\xe2\x81\xaa"}) {
    EXPECT_EQ(escape_for_terminal(s), s);
  }
}

TEST(EscapeForTerminal, ControlCharactersBecomeVisibleEscapes) {
  // The OSC sequence that sets a terminal's title, and a CSI that clears the screen.
  EXPECT_EQ(escape_for_terminal("w\x1b]0;pwned\x07"), "w\\x1b]0;pwned\\x07");
  EXPECT_EQ(escape_for_terminal("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(escape_for_terminal("a\tb\nc\rd"), "a\\tb\\nc\\rd");
  EXPECT_EQ(escape_for_terminal(std::string("\0\x01\x1f\x7f", 4)), "\\x00\\x01\\x1f\\x7f");
  // C1 controls as code points: U+0080, U+009B (a one-character CSI), U+009F.
  EXPECT_EQ(escape_for_terminal("\xc2\x80\xc2\x9b""1m\xc2\x9f"), "\\u{80}\\u{9b}1m\\u{9f}");
}

TEST(EscapeForTerminal, BidiControlsAndLineSeparatorsAreEscaped) {
  // "Trojan source": U+202E makes the rest of a line display right to left.
  EXPECT_EQ(escape_for_terminal("name\xe2\x80\xae""cod.exe"), "name\\u{202e}cod.exe");
  EXPECT_EQ(escape_for_terminal("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"), "\\u{202a}\\u{202b}\\u{202c}\\u{202d}");
  EXPECT_EQ(escape_for_terminal("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"), "\\u{2066}\\u{2067}\\u{2068}\\u{2069}");
  EXPECT_EQ(escape_for_terminal("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"), "\\u{200e}\\u{200f}\\u{61c}");
  EXPECT_EQ(escape_for_terminal("\xe2\x80\xa8\xe2\x80\xa9"), "\\u{2028}\\u{2029}");
}

TEST(EscapeForTerminal, IllFormedUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(escape_for_terminal("a\xff" "b"), "a\\xffb");
  EXPECT_EQ(escape_for_terminal("\x9b" "31m"), "\\x9b31m");           // a raw C1 byte is not UTF-8
  EXPECT_EQ(escape_for_terminal("\xe4\xb8"), "\\xe4\\xb8");            // truncated
  EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");            // overlong '/'
  EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");   // a surrogate
  EXPECT_EQ(escape_for_terminal("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escape_for_terminal("\xe4\xb8\xad\xe4\xb8"), "\xe4\xb8\xad\\xe4\\xb8");
}

TEST(EscapeForTerminal, BackslashAndQuotes) {
  EXPECT_EQ(escape_for_terminal("a\\x1b"), "a\\\\x1b");  // a literal backslash cannot pass for an escape
  EXPECT_EQ(escape_for_terminal("a\\u001B\x1b", {.backslash = false}), "a\\u001B\\x1b");
  EXPECT_EQ(escape_for_terminal("say \"hi\""), "say \"hi\"");
  EXPECT_EQ(quote_for_terminal("say \"hi\"\x1b"), "\"say \\\"hi\\\"\\x1b\"");
  EXPECT_EQ(quote_for_terminal(""), "\"\"");
}

TEST(EscapeForTerminal, EveryByteAndRandomStringsAreSafeAndReversible) {
  for (int b = 0; b < 256; ++b) {
    const std::string s(1, static_cast<char>(b));
    const std::string shown = escape_for_terminal(s);
    expect_terminal_safe(shown, s);
    EXPECT_EQ(unescape(shown), s) << b;
  }
  // Strings built from pieces a hostile file would use, and arbitrary bytes.
  const std::vector<std::string> pieces = {
      "\x1b", "]0;", "\x07", "\x1b[31m", "\xc2\x9b", "\x9b", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x80\xa8", "\\",
      "\\x1b", "\"", "\n", "\t", "\x7f", "\xff", "\xe4\xb8", "\xe4\xb8\xad", "a", " ", "\xf0\x9f\x99\x82", "u{9b}"};
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<std::size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 12);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string s;
    for (int n = len(rng); n > 0; --n) s += trial % 2 ? pieces[piece(rng)] : std::string(1, static_cast<char>(byte(rng)));
    const std::string shown = escape_for_terminal(s);
    expect_terminal_safe(shown, s);
    EXPECT_EQ(unescape(shown), s) << ::testing::PrintToString(s);
    const std::string quoted = quote_for_terminal(s);
    expect_terminal_safe(quoted, s);
    EXPECT_EQ(unescape(quoted.substr(1, quoted.size() - 2)), s) << ::testing::PrintToString(s);
  }
}

}  // namespace
}  // namespace kiln::text
