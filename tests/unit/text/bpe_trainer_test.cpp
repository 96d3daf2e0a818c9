#include "kiln/text/bpe_trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using testing::fixture;

std::vector<std::string> corpus() {
  // Real English fortunes (the Keras fixture's texts) plus Chinese poems.
  std::vector<std::string> texts;
  for (const auto& c : testing::read_jsonl(fixture("keras_tokenizer_cases.jsonl"))) {
    for (const auto& t : c["fit_texts"]) texts.push_back(t.get<std::string>());
  }
  std::ifstream in(fixture("tang300_excerpt.txt"), std::ios::binary);
  texts.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return texts;
}

TEST(BpeTrainer, MatchesHuggingFaceReferenceExample) {
  // The word counts of tokenizers' own trainer test (trainer.rs, test_train):
  // with min_frequency 2 it learns exactly 're', 'are', 'is', in that order.
  BpeTrainerOptions o;
  o.min_frequency = 2;
  BpeTrainer trainer(o);
  for (const auto& [w, c] : std::vector<std::pair<std::string, int>>{
           {"roses", 1}, {"are", 2}, {"red", 1}, {"voilets", 1}, {"blue", 1}, {"BERT", 1},
           {"is", 2}, {"big", 1}, {"and", 1}, {"so", 1}, {"GPT-2", 1}}) {
    trainer.add_word(w, static_cast<std::uint64_t>(c));
  }
  const BpeTokenizer tok = trainer.train();
  const BpeModel m = tok.model();
  EXPECT_EQ(m.merges, (std::vector<std::pair<std::string, std::string>>{{"r", "e"}, {"a", "re"}, {"i", "s"}}));
  EXPECT_EQ(tok.vocab_size(), 256u + 3u);
  EXPECT_EQ(tok.token_to_id("!"), 0);  // the byte alphabet in code point order
  EXPECT_EQ(tok.token_to_id("are"), 257);
}

TEST(BpeTrainer, TrainsSavesAndLoadsBackIdentically) {
  const auto texts = corpus();
  BpeTrainerOptions o;
  o.vocab_size = 600;
  o.min_frequency = 2;
  o.special_tokens = {"<|endoftext|>", "<pad>"};
  const BpeTokenizer tok = train_byte_level_bpe(texts, o);
  EXPECT_EQ(tok.vocab_size(), 600u);
  EXPECT_EQ(tok.token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok.token_to_id("<pad>"), 1);
  EXPECT_EQ(tok.token_to_id("!"), 2);
  EXPECT_EQ(tok.model().merges.size(), 600u - 258u);

  const std::string path = testing::temp_path("trained_tokenizer.json");
  tok.save_tokenizer_json(path);
  const BpeTokenizer back = BpeTokenizer::from_tokenizer_json(path);
  const BpeModel a = tok.model();
  const BpeModel b = back.model();
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.merges, b.merges);
  ASSERT_EQ(b.added_tokens.size(), 2u);
  EXPECT_EQ(b.added_tokens[1].content, "<pad>");
  EXPECT_TRUE(b.added_tokens[1].special);
  std::size_t bytes = 0;
  std::size_t tokens = 0;
  for (const auto& t : texts) {
    const auto ids = tok.encode(t);
    EXPECT_EQ(back.encode(t), ids);
    EXPECT_EQ(back.decode(ids), t);
    bytes += t.size();
    tokens += ids.size();
  }
  EXPECT_LT(tokens * 2, bytes);  // the merges compress the training text
  EXPECT_EQ(back.encode("a<pad>", AllowedSpecial::all()).back(), 1);

  // The file has Hugging Face's layout.
  const auto j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["model"]["merges"][0].size(), 2u);
  EXPECT_EQ(j["model"]["vocab"]["<pad>"], 1);
  EXPECT_EQ(j["added_tokens"][0]["content"], "<|endoftext|>");
}

TEST(BpeTrainer, DeterministicAndStopsAtMinFrequency) {
  auto texts = corpus();
  BpeTrainerOptions o;
  o.vocab_size = 400;
  const auto first = train_byte_level_bpe(texts, o).model();
  std::reverse(texts.begin(), texts.end());
  EXPECT_EQ(train_byte_level_bpe(texts, o).model().merges, first.merges);

  o.min_frequency = 1'000'000;
  EXPECT_EQ(train_byte_level_bpe(texts, o).vocab_size(), 256u);
  o.special_tokens = {"<s>", "<s>"};
  EXPECT_THROW(BpeTrainer{o}, Error);
}

}  // namespace
}  // namespace kiln::text
