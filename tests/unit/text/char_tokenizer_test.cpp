#include "kiln/text/char_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/text/unicode.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

std::vector<std::string> read_fortunes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t end = all.find("\n%\n", pos);
    if (end == std::string::npos) end = all.size();
    out.push_back(all.substr(pos, end - pos));
    pos = end + 3;
  }
  return out;
}

TEST(CharTokenizer, FitsAndRoundTripsChinesePoems) {
  const auto poems = read_fortunes(testing::fixture("tang300_excerpt.txt"));
  ASSERT_FALSE(poems.empty()) << "no poems in tang300_excerpt.txt";
  CharTokenizer tok;
  tok.fit(poems);
  std::set<char32_t> distinct;
  std::map<char32_t, int> counts;
  for (const auto& p : poems) {
    for (const char32_t c : utf8_to_u32(p, "poem")) {
      distinct.insert(c);
      ++counts[c];
    }
  }
  EXPECT_EQ(tok.vocab_size(), 2 + distinct.size());
  // The most frequent character gets the first id after the special tokens,
  // and ids follow descending counts, ties by code point.
  for (std::size_t i = 1; i < tok.chars().size(); ++i) {
    const char32_t a = tok.chars()[i - 1];
    const char32_t b = tok.chars()[i];
    EXPECT_TRUE(counts[a] > counts[b] || (counts[a] == counts[b] && a < b));
  }
  // Ids from the counts above: after <pad> and <unk>, most frequent first.
  std::vector<char32_t> by_count(distinct.begin(), distinct.end());
  std::sort(by_count.begin(), by_count.end(),
            [&](char32_t a, char32_t b) { return counts[a] != counts[b] ? counts[a] > counts[b] : a < b; });
  for (std::size_t i = 0; i < by_count.size(); ++i) {
    EXPECT_EQ(tok.char_to_id(by_count[i]), 2 + static_cast<TokenId>(i));
  }
  for (const auto& p : poems) {
    const auto ids = tok.encode(p);
    EXPECT_EQ(ids.size(), utf8_to_u32(p, "poem").size());
    EXPECT_EQ(tok.decode(ids), p);
  }
  // Unknown characters map to <unk>; decode writes the special token's name.
  const std::string known = u32_to_utf8(std::u32string(1, by_count.front()));
  const auto ids = tok.encode(known + "Ω");
  EXPECT_EQ(ids[1], 1);
  EXPECT_EQ(tok.decode(ids), known + "<unk>");
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), known);
}

TEST(CharTokenizer, LimitsSaveLoadAndErrors) {
  const auto poems = read_fortunes(testing::fixture("tang300_excerpt.txt"));
  CharTokenizerOptions o;
  o.max_vocab_size = 50;
  o.min_frequency = 2;
  CharTokenizer tok(o);
  tok.fit(poems);
  EXPECT_EQ(tok.vocab_size(), 50u);

  const std::string path = testing::temp_path("char_tokenizer.json");
  tok.save(path);
  const CharTokenizer back = CharTokenizer::load(path);
  EXPECT_EQ(back.chars(), tok.chars());
  for (const auto& p : poems) EXPECT_EQ(back.encode(p), tok.encode(p));

  EXPECT_THROW(tok.fit(std::vector<std::string>{"ok", "bad\xff"}), Error);
  EXPECT_EQ(tok.vocab_size(), 50u);  // a failed fit changes nothing
  EXPECT_THROW(tok.encode("\xe4\xb8"), Error);
  EXPECT_THROW(tok.decode(std::vector<TokenId>{50}), Error);
  CharTokenizerOptions strict;
  strict.unk_token.reset();
  CharTokenizer no_unk(strict);
  no_unk.fit(std::vector<std::string>{"ab"});
  EXPECT_THROW(no_unk.encode("abc"), Error);
  CharTokenizerOptions bad;
  bad.unk_token = "<oov>";
  EXPECT_THROW(CharTokenizer{bad}, Error);
}

TEST(CharTokenizer, WholeFortunesZhFileWhenInstalled) {
  const std::string path = "/usr/share/games/fortunes/chinese";
  if (!std::ifstream(path)) GTEST_SKIP() << "fortunes-zh not installed";
  const auto texts = read_fortunes(path);
  CharTokenizer tok;
  tok.fit(texts);
  for (const auto& t : texts) ASSERT_EQ(tok.decode(tok.encode(t)), t);
}

}  // namespace
}  // namespace kiln::text
