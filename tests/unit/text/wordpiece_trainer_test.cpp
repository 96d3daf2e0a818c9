#include "kiln/text/wordpiece_trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/text/unicode.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using testing::fixture;

WordPieceTrainerOptions opts(std::size_t vocab_size, std::size_t limit_alphabet = 1000) {
  WordPieceTrainerOptions o;
  o.vocab_size = vocab_size;
  o.limit_alphabet = limit_alphabet;
  return o;
}

WordPieceTrainerOptions with_specials(std::vector<std::string> specials) {
  WordPieceTrainerOptions o;
  o.special_tokens = std::move(specials);
  return o;
}

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (const auto& c : testing::read_jsonl(fixture("keras_tokenizer_cases.jsonl"))) {
    for (const auto& t : c["fit_texts"]) texts.push_back(t.get<std::string>());
  }
  std::ifstream in(fixture("tang300_excerpt.txt"), std::ios::binary);
  texts.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return texts;
}

TEST(WordPieceTrainer, WorkedExampleByHand) {
  // Words "ab" x3 and "abc" x1. Alphabet a b c; ##b and ##c as they occur;
  // pairs (a, ##b) = 4 and (##b, ##c) = 1, so "ab" is the first merge and
  // (ab, ##c) = 1 would be the second.
  WordPieceTrainer t(opts(11));
  t.feed(std::vector<std::string>{"AB ab", "ab abc"});
  const std::vector<std::string> expected = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "##b", "##c", "ab"};
  EXPECT_EQ(t.train_vocab(), expected);
  const WordPieceTokenizer tok = t.train();
  // "cab": c, then no "##a" in the vocabulary: the whole word is unknown (BERT's rule).
  EXPECT_EQ(tok.tokenize("abc ab cab"), (std::vector<std::string>{"ab", "##c", "ab", "[UNK]"}));

  WordPieceTrainer more(opts(100));
  more.feed(std::vector<std::string>{"AB ab", "ab abc"});
  const auto v = more.train_vocab();
  ASSERT_EQ(v.size(), 12U);  // the second merge, then no pair is left
  EXPECT_EQ(v.back(), "abc");
}

TEST(WordPieceTrainer, TiesGoToTheSmallestPairOfIds) {
  // "xy" and "zw" once each: both pairs count 1; (x, ##y) has the smaller ids.
  WordPieceTrainer t(opts(5 + 4 + 2 + 1));
  t.feed(std::vector<std::string>{"zw xy"});
  const auto v = t.train_vocab();
  EXPECT_EQ(v.back(), "xy");
}

TEST(WordPieceTrainer, EveryTrainingWordEncodesWithoutUnknownAndSpecialsComeFirst) {
  const auto texts = corpus();
  WordPieceTrainer t(opts(2000));
  t.feed(texts);
  const WordPieceTokenizer tok = t.train();
  EXPECT_EQ(tok.vocab_size(), 2000U);
  EXPECT_EQ(tok.id_to_token(0), "[PAD]");
  EXPECT_EQ(tok.id_to_token(1), "[UNK]");
  EXPECT_EQ(tok.id_to_token(4), "[MASK]");
  std::size_t pieces = 0, chars = 0;
  for (const auto& text : texts) {
    for (const auto& word : bert_basic_tokenize(text)) {
      const auto p = tok.tokenize(word);
      EXPECT_EQ(std::count(p.begin(), p.end(), "[UNK]"), 0) << word;
      pieces += p.size();
      chars += utf8_to_u32(word, "word").size();
    }
  }
  // Merges must shorten the text: far fewer pieces than characters.
  EXPECT_LT(static_cast<double>(pieces), 0.5 * static_cast<double>(chars));
}

TEST(WordPieceTrainer, CharactersBeyondTheAlphabetLimitBecomeUnknown) {
  WordPieceTrainer t(opts(50, 2));
  t.feed(std::vector<std::string>{"aaa bbb c"});  // a, b frequent; c left out
  const WordPieceTokenizer tok = t.train();
  EXPECT_FALSE(tok.token_to_id("c").has_value());
  EXPECT_EQ(tok.tokenize("c"), std::vector<std::string>{"[UNK]"});
  EXPECT_EQ(tok.tokenize("ab"), (std::vector<std::string>{"a", "##b"}));
}

TEST(WordPieceTrainer, VocabFileRoundTripsAndBadOptionsAreNamed) {
  WordPieceTrainer t(opts(300));
  t.feed(corpus());
  const WordPieceTokenizer tok = t.train();
  const auto path = std::filesystem::temp_directory_path() / "kiln_wordpiece_trainer_vocab.txt";
  save_vocab_file(tok, path);
  const WordPieceTokenizer back = WordPieceTokenizer::from_vocab_file(path.string());
  ASSERT_EQ(back.vocab_size(), tok.vocab_size());
  for (const auto& text : corpus()) EXPECT_EQ(back.encode(text), tok.encode(text));
  std::filesystem::remove(path);

  EXPECT_THROW(WordPieceTrainer(with_specials({"[PAD]", "[UNK]", "[UNK]"})), Error);
  try {
    WordPieceTrainer(with_specials({"[PAD]", "[UNK]", "[CLS]", "[SEP]"}));
    FAIL() << "no [MASK] among the special tokens was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[MASK]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::text
