#include "kiln/text/parallel_encode.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/core/parallel.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using testing::fixture;

const BpeTokenizer& gpt2() {
  static const BpeTokenizer tok = BpeTokenizer::from_gpt2_files(fixture("encoder.json"), fixture("vocab.bpe"));
  return tok;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Parallel encoding with pieces as small as possible (every safe cut) and a
/// few larger sizes must give exactly the ids of encoding the whole text.
void expect_same_as_whole(const BpeTokenizer& tok, const std::string& text,
                          const AllowedSpecial& allowed = AllowedSpecial::none()) {
  const std::vector<TokenId> whole = tok.encode(text, allowed);
  for (const std::size_t piece : {1UL, 2UL, 7UL, 64UL, 4096UL}) {
    const auto got = encode_texts_parallel(tok, {text}, allowed, piece);
    ASSERT_EQ(got.size(), 1U);
    ASSERT_EQ(got[0], whole) << "piece size " << piece << ", text: " << text.substr(0, 200);
  }
}

TEST(SplitForEncoding, PiecesCoverTheTextAndCutOnlyAtSafePlaces) {
  const std::string text = "ab\ncd\n\nef\n gh\nij.\n'k\n\nl\nm";
  const auto pieces = split_for_encoding(text, 1);
  std::string joined;
  for (const auto p : pieces) {
    ASSERT_FALSE(p.empty());
    if (!joined.empty()) {
      // Each cut follows "<non-space>\n" and precedes a non-space character.
      ASSERT_GE(joined.size(), 2U);
      EXPECT_EQ(joined.back(), '\n');
      EXPECT_GT(joined[joined.size() - 2], ' ');
      EXPECT_GT(p.front(), ' ');
    }
    joined += p;
  }
  EXPECT_EQ(joined, text);
  // ab\n | cd\n\nef\n gh\n | ij.\n | 'k\n\nl\n | m
  EXPECT_EQ(pieces.size(), 5U);
}

TEST(SplitForEncoding, CutsBetweenLinesOfNonAsciiText) {
  // Tang poem lines: CJK letters and punctuation around every newline.
  const std::string text = "\xe5\xba\x8a\xe5\x89\x8d\xe6\x98\x8e\xe6\x9c\x88\xe5\x85\x89\xef\xbc\x8c\n"
                           "\xe7\x96\x91\xe6\x98\xaf\xe5\x9c\xb0\xe4\xb8\x8a\xe9\x9c\x9c\xe3\x80\x82\n"
                           "\xe4\xb8\xbe";
  EXPECT_EQ(split_for_encoding(text, 1).size(), 3U);
  // Not after or before multi-byte white space (U+3000, U+00A0) ...
  EXPECT_EQ(split_for_encoding("a\xe3\x80\x80\nb", 1).size(), 1U);
  EXPECT_EQ(split_for_encoding("a\n\xc2\xa0" "b", 1).size(), 1U);
  // ... but after a stray byte, which the pre-tokenizer treats as a symbol.
  EXPECT_EQ(split_for_encoding("a\x80\nb", 1).size(), 2U);
  EXPECT_EQ(split_for_encoding("a\xe3\x80\nb", 1).size(), 2U);
}

TEST(SplitForEncoding, TargetSizeIsAMinimum) {
  const std::string text = "aa\nbb\ncc\ndd\nee\n";
  const auto pieces = split_for_encoding(text, 5);
  ASSERT_EQ(pieces.size(), 3U);
  EXPECT_EQ(pieces[0], "aa\nbb\n");
  EXPECT_EQ(pieces[1], "cc\ndd\n");
  EXPECT_EQ(pieces[2], "ee\n");
  EXPECT_EQ(split_for_encoding("no newline at all", 1).size(), 1U);
  EXPECT_EQ(split_for_encoding("", 1).size(), 1U);
}

TEST(ParallelEncode, TrickyBoundariesGiveTheWholeTextIds) {
  for (const std::string text : {
           "a\n\nb", "x \nY", "x\n'sY", "x\n'", "1\n2", "a\n b", "a\n\tb", "a\xc2\xa0\nb", "\xc3\xa9\nb",
           "end.\n\n\nStart", "it\n's\n're\n'll", "a\nb\nc\nd\ne\n", "\n\n\nx", "x\n", "\nx\ny",
           "tab\t\nX", "cr\r\nX", "q\n\xe2\x80\x83Y", "word\n123\n!!!\n...",
       }) {
    SCOPED_TRACE(text);
    expect_same_as_whole(gpt2(), text);
  }
}

TEST(ParallelEncode, SpecialTokensNextToCuts) {
  for (const std::string text : {"a<|endoftext|>\nX", "a\n<|endoftext|>b", "<|endoftext|>\n<|endoftext|>\nz"}) {
    SCOPED_TRACE(text);
    expect_same_as_whole(gpt2(), text, AllowedSpecial::all());
    expect_same_as_whole(gpt2(), text, AllowedSpecial::none());
  }
}

TEST(ParallelEncode, RandomTextsFromAnAwkwardAlphabet) {
  // Characters that stress every branch of the pattern around newlines.
  const std::vector<std::string> alphabet = {"a", "Z", "1", "'", "s", "ll", "\n", "\n", "\n", " ", "  ", "\t",
                                             ".", "!", "\xc3\xa9", "\xc2\xa0", "\xe4\xb8\xad", "\r",
                                             "\xe3\x80\x80", "\xe3\x80\x82", "\xe2\x80\xa8", "\x80", "\xe3\x80", "\xff",
                                             "\xe2\x80\x83"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  for (int round = 0; round < 400; ++round) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 120);
    for (int i = 0; i < n; ++i) text += alphabet[pick(rng)];
    SCOPED_TRACE(round);
    expect_same_as_whole(gpt2(), text);
  }
}

TEST(ParallelEncode, FortuneTextOnSeveralThreads) {
  std::string text = slurp(fixture("tang300_excerpt.txt"));
  const std::filesystem::path computers = "/usr/share/games/fortunes/computers";
  if (std::filesystem::exists(computers)) text += slurp(computers.string());
  const int saved = num_threads();
  set_num_threads(2);
  expect_same_as_whole(gpt2(), text);
  set_num_threads(saved);
}

TEST(ParallelEncode, ManyTextsKeepTheirOrder) {
  const std::vector<std::string> texts = {"first\nline", "", "second text\nwith\nlines\n", "x"};
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto got = encode_texts_parallel(gpt2(), views, AllowedSpecial::none(), 1);
  ASSERT_EQ(got.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(got[i], gpt2().encode(texts[i])) << i;
}

TEST(ParallelEncode, UncuttableTokenizersAreEncodedWhole) {
  EXPECT_TRUE(cutting_preserves_tokens(gpt2(), AllowedSpecial::all()));

  BpeModel prefix = gpt2().model();
  prefix.options.add_prefix_space = true;
  const BpeTokenizer with_prefix(prefix);
  EXPECT_FALSE(cutting_preserves_tokens(with_prefix, AllowedSpecial::none()));
  expect_same_as_whole(with_prefix, "a\nb\nc\nd");

  BpeModel lstrip = gpt2().model();
  for (auto& a : lstrip.added_tokens) a.lstrip = true;
  const BpeTokenizer with_lstrip(lstrip);
  // The lstrip token only matters when it is enabled.
  EXPECT_TRUE(cutting_preserves_tokens(with_lstrip, AllowedSpecial::none()));
  EXPECT_FALSE(cutting_preserves_tokens(with_lstrip, AllowedSpecial::all()));
  expect_same_as_whole(with_lstrip, "a\n<|endoftext|>b\nc", AllowedSpecial::all());

  BpeModel newline = gpt2().model();
  newline.added_tokens.push_back({.content = "x\ny", .id = 50257, .special = false});
  const BpeTokenizer with_newline(newline);
  EXPECT_FALSE(cutting_preserves_tokens(with_newline, AllowedSpecial::none()));
  expect_same_as_whole(with_newline, "ax\nyb\nc");
}

}  // namespace
}  // namespace kiln::text
