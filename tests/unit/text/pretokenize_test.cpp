#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/text/byte_level.h"
#include "kiln/text/unicode.h"

namespace kiln::text {
namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t covered = 0;
  gpt2_pretokenize(s, [&](std::size_t b, std::size_t e) {
    EXPECT_EQ(b, covered);
    EXPECT_LT(b, e);
    covered = e;
    out.emplace_back(s.substr(b, e - b));
  });
  EXPECT_EQ(covered, s.size());
  return out;
}

using V = std::vector<std::string>;

TEST(Gpt2Pretokenize, ContractionsAndSpaces) {
  EXPECT_EQ(split("I'm sure they'll"), (V{"I", "'m", " sure", " they", "'ll"}));
  EXPECT_EQ(split("hello  world"), (V{"hello", " ", " world"}));
  EXPECT_EQ(split("trailing  "), (V{"trailing", "  "}));
  EXPECT_EQ(split(" 's"), (V{" '", "s"}));
  EXPECT_EQ(split("''s"), (V{"''", "s"}));
  EXPECT_EQ(split("'S"), (V{"'", "S"}));  // contractions are case-sensitive
  EXPECT_EQ(split("x\n\n\ny"), (V{"x", "\n\n", "\n", "y"}));
  EXPECT_EQ(split(" \nhi"), (V{" ", "\n", "hi"}));
  EXPECT_EQ(split("a1b 22 !?"), (V{"a", "1", "b", " 22", " !?"}));
}

TEST(Gpt2Pretokenize, UnicodeCategories) {
  // U+3000 IDEOGRAPHIC SPACE is White_Space but only U+0020 may prefix a word;
  // U+00BD ½ is No; U+0301 (Mn) is "other".
  EXPECT_EQ(split("a\u3000\u3000b"), (V{"a", "\u3000", "\u3000", "b"}));
  EXPECT_EQ(split("x ½"), (V{"x", " ½"}));
  EXPECT_EQ(split("e\u0301t"), (V{"e", "\u0301", "t"}));
  EXPECT_EQ(split("中文 字"), (V{"中文", " 字"}));
}

TEST(Gpt2Pretokenize, InvalidBytesAreOtherCharacters) {
  EXPECT_EQ(split("ab\xff\xfe cd"), (V{"ab", "\xff\xfe", " cd"}));
  EXPECT_EQ(split(" \x80x"), (V{" \x80", "x"}));
  // A truncated sequence: each byte on its own, still "other".
  EXPECT_EQ(split("\xe4\xb8"), (V{"\xe4\xb8"}));
}

TEST(Unicode, Categories) {
  EXPECT_EQ(general_category(U'A'), Category::Lu);
  EXPECT_EQ(general_category(U'中'), Category::Lo);
  EXPECT_EQ(general_category(0x20000), Category::Lo);  // CJK Extension B range
  EXPECT_EQ(general_category(U'½'), Category::No);
  EXPECT_EQ(general_category(0x1F600), Category::So);
  EXPECT_EQ(general_category(0xE000), Category::Co);
  EXPECT_EQ(general_category(0x0378), Category::Cn);
  EXPECT_TRUE(is_white_space(0x85));
  EXPECT_TRUE(is_white_space(0x2028));
  EXPECT_FALSE(is_white_space(0x200B));
  EXPECT_EQ(u32_to_utf8(nfd(U"\u00e9")), "e\u0301");
  EXPECT_EQ(u32_to_utf8(nfd(U"\uAC01")), "\u1100\u1161\u11A8");
  // Canonical ordering puts the below mark (ccc 220) before the above mark (230).
  EXPECT_EQ(u32_to_utf8(nfd(U"a\u0301\u0323")), "a\u0323\u0301");
}

TEST(Unicode, Utf8Decoding) {
  EXPECT_TRUE(is_valid_utf8("h\u00e9\u4e2d\U0001F600"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_THROW(utf8_to_u32("ok\xff", "test"), Error);
}

}  // namespace
}  // namespace kiln::text
