#include "kiln/text/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kiln/core/error.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using testing::fixture;
using testing::read_jsonl;
using testing::temp_path;

const BpeTokenizer& gpt2() {
  static const BpeTokenizer tok =
      BpeTokenizer::from_gpt2_files(fixture("encoder.json"), fixture("vocab.bpe"));
  return tok;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Gpt2Bpe, MatchesHuggingFaceOnEveryFixtureCase) {
  const auto cases = read_jsonl(fixture("gpt2_tokenizer_cases.jsonl"));
  ASSERT_FALSE(cases.empty()) << "no cases in gpt2_tokenizer_cases.jsonl";
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<TokenId>>();
    const auto ids = gpt2().encode(text);
    EXPECT_EQ(ids, expected) << "text: " << text;
    EXPECT_EQ(gpt2().decode(ids), text);
  }
}

TEST(Gpt2Bpe, BatchEncodeMatchesSequential) {
  const auto cases = read_jsonl(fixture("gpt2_tokenizer_cases.jsonl"));
  std::vector<std::string> texts;
  for (const auto& c : cases) texts.push_back(c["text"].get<std::string>());
  ASSERT_FALSE(texts.empty()) << "no cases in gpt2_tokenizer_cases.jsonl";
  gpt2().clear_cache();
  const auto batch = gpt2().encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(batch[i], cases[i]["ids"].get<std::vector<TokenId>>()) << texts[i];
  }
}

TEST(Gpt2Bpe, RandomBytesRoundTrip) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> len_dist(0, 300);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  const std::vector<std::string> pieces = {" ", "  ", "\n", "'s", "'ll", "é", "中", "🙂", "a", "Z", "9", "\t", "\xe2\x80"};
  std::uniform_int_distribution<std::size_t> piece_dist(0, pieces.size() - 1);
  for (int trial = 0; trial < 500; ++trial) {
    std::string s;
    const int n = len_dist(rng);
    for (int i = 0; i < n; ++i) {
      if (trial % 2 == 0) {
        s.push_back(static_cast<char>(byte_dist(rng)));
      } else {
        s += pieces[piece_dist(rng)];
      }
    }
    const auto ids = gpt2().encode(s);
    ASSERT_EQ(gpt2().decode(ids), s) << "trial " << trial;
  }
}

TEST(Gpt2Bpe, SpecialTokensOnlyWhereAllowed) {
  const std::string text = "a<|endoftext|>b";
  EXPECT_EQ(gpt2().encode("<|endoftext|>"), (std::vector<TokenId>{27, 91, 437, 1659, 5239, 91, 29}));
  EXPECT_EQ(gpt2().encode(text, AllowedSpecial{"<|endoftext|>"}), (std::vector<TokenId>{64, 50256, 65}));
  EXPECT_EQ(gpt2().encode(text, AllowedSpecial::all()), (std::vector<TokenId>{64, 50256, 65}));
  EXPECT_EQ(gpt2().decode(std::vector<TokenId>{64, 50256, 65}), text);
  EXPECT_EQ(gpt2().decode(std::vector<TokenId>{64, 50256, 65}, /*skip_special=*/true), "ab");
  EXPECT_NE(message_of([] { gpt2().encode("x", AllowedSpecial{"<|nope|>"}); }).find("<|nope|>"), std::string::npos);
}

TEST(Gpt2Bpe, DecodeRejectsUnknownIds) {
  EXPECT_THROW(gpt2().decode(std::vector<TokenId>{50257}), Error);
  EXPECT_THROW(gpt2().decode(std::vector<TokenId>{-1}), Error);
  EXPECT_EQ(gpt2().vocab_size(), 50257u);
  EXPECT_EQ(gpt2().token_to_id("Ġthe"), 262);
  EXPECT_EQ(gpt2().id_to_token(262), "Ġthe");
}

TEST(Gpt2Bpe, BrokenMergesLineIsNamed) {
  const std::string path = temp_path("broken_vocab.bpe");
  write(path, "#version: 0.2\nĠ t\nh e\nbroken\n");
  const std::string msg = message_of([&] { BpeTokenizer::from_gpt2_files(fixture("encoder.json"), path); });
  EXPECT_NE(msg.find(path + ":4:"), std::string::npos) << msg;
  write(path, "#version: 0.2\nĠ t\nqqqqq zzzzz\n");
  const std::string msg2 = message_of([&] { BpeTokenizer::from_gpt2_files(fixture("encoder.json"), path); });
  EXPECT_NE(msg2.find(path + ":3:"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("qqqqq"), std::string::npos) << msg2;
}

TEST(Gpt2Bpe, TokenizerJsonRoundTripBothMergeForms) {
  const std::string path = temp_path("gpt2_tokenizer.json");
  gpt2().save_tokenizer_json(path);
  const auto reloaded = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(reloaded.vocab_size(), gpt2().vocab_size());
  ASSERT_EQ(reloaded.added_tokens().size(), 1u);
  EXPECT_EQ(reloaded.added_tokens()[0].content, "<|endoftext|>");

  // The legacy "a b" merge strings must load to the same tokenizer.
  auto j = nlohmann::json::parse(std::ifstream(path));
  for (auto& m : j["model"]["merges"]) m = m[0].get<std::string>() + " " + m[1].get<std::string>();
  const std::string legacy = temp_path("gpt2_tokenizer_legacy.json");
  write(legacy, j.dump(1));
  const auto reloaded_legacy = BpeTokenizer::from_tokenizer_json(legacy);

  for (const auto& c : read_jsonl(fixture("gpt2_tokenizer_cases.jsonl"))) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(reloaded.encode(text), expected) << text;
    EXPECT_EQ(reloaded_legacy.encode(text), expected) << text;
  }
  EXPECT_EQ(reloaded.encode("<|endoftext|>", AllowedSpecial::all()), (std::vector<TokenId>{50256}));
}

// A tiny tokenizer.json written by hand: vocab of the bytes of "abc " plus merges.
std::string tiny_tokenizer_json(const std::string& merges, const std::string& added = "[]",
                                const std::string& pre = R"({"type": "ByteLevel", "add_prefix_space": false})") {
  return R"({
  "added_tokens": )" + added + R"(,
  "normalizer": null,
  "pre_tokenizer": )" + pre + R"(,
  "model": {
    "type": "BPE",
    "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "<s>": 7},
    "merges": )" + merges + R"(
  }
})";
}

TEST(BpeTokenizerJson, SmallModelAndAddedTokens) {
  const std::string path = temp_path("tiny.json");
  write(path, tiny_tokenizer_json(R"(["a b", ["ab", "c"], "Ġ a"])",
                                  R"([{"id": 8, "content": "<sep>", "special": true, "rstrip": true},
                                      {"id": 7, "content": "<s>", "special": false}])"));
  const auto tok = BpeTokenizer::from_tokenizer_json(path);
  EXPECT_EQ(tok.vocab_size(), 9u);
  EXPECT_EQ(tok.encode("abc ab a"), (std::vector<TokenId>{5, 3, 4, 6}));
  // Non-special added tokens always match; special ones only when allowed.
  EXPECT_EQ(tok.encode("a<s>b"), (std::vector<TokenId>{0, 7, 1}));
  EXPECT_EQ(tok.encode("ab<sep>  c", AllowedSpecial::all()), (std::vector<TokenId>{4, 8, 2}));
  EXPECT_EQ(tok.decode(std::vector<TokenId>{4, 8, 2}), "ab<sep>c");
  // Without the token allowed, '<' has no byte token here and there is no unk_token.
  EXPECT_THROW(tok.encode("ab<sep>"), Error);

  write(path, tiny_tokenizer_json(R"(["a b", ["ab", "c"], "Ġ a"])", "[]",
                                  R"({"type": "ByteLevel", "add_prefix_space": true})"));
  EXPECT_EQ(BpeTokenizer::from_tokenizer_json(path).encode("abc"), (std::vector<TokenId>{3, 5}));
}

TEST(BpeTokenizerJson, ErrorsNameFileAndLine) {
  const std::string path = temp_path("tiny_bad.json");
  write(path, tiny_tokenizer_json("[\n      \"a b\",\n      \"b c\"\n    ]"));
  std::string msg = message_of([&] { BpeTokenizer::from_tokenizer_json(path); });
  EXPECT_NE(msg.find(path + ":10: model.merges[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'bc'"), std::string::npos) << msg;

  write(path, tiny_tokenizer_json("[\"a b\", \"a b c\"]"));
  msg = message_of([&] { BpeTokenizer::from_tokenizer_json(path); });
  EXPECT_NE(msg.find("model.merges[1]"), std::string::npos) << msg;

  write(path, tiny_tokenizer_json("[]", "[]", R"({"type": "Whitespace"})"));
  msg = message_of([&] { BpeTokenizer::from_tokenizer_json(path); });
  EXPECT_NE(msg.find("Whitespace"), std::string::npos) << msg;

  write(path, "{\n  \"model\": {\n    \"vocab\": {\"a\": 0,}\n  }\n}");
  msg = message_of([&] { BpeTokenizer::from_tokenizer_json(path); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;

  msg = message_of([&] { BpeTokenizer::from_tokenizer_json(temp_path("does_not_exist.json")); });
  EXPECT_NE(msg.find("does_not_exist.json"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::text

namespace kiln::text {
namespace {

// The word cache is shared by every thread that encodes with one tokenizer;
// clear_cache() may run meanwhile. Every result must still be exact.
TEST(Gpt2Bpe, ConcurrentEncodesAndCacheClearsAgree) {
  const auto cases = read_jsonl(fixture("gpt2_tokenizer_cases.jsonl"));
  std::vector<std::string> texts;
  std::vector<std::vector<TokenId>> expected;
  for (const auto& c : cases) {
    texts.push_back(c["text"].get<std::string>());
    expected.push_back(c["ids"].get<std::vector<TokenId>>());
  }
  const BpeTokenizer tok = BpeTokenizer::from_gpt2_files(fixture("encoder.json"), fixture("vocab.bpe"));
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          const std::size_t k = (i * 7 + static_cast<std::size_t>(t) * 13 + static_cast<std::size_t>(round)) % texts.size();
          if (tok.encode(texts[k]) != expected[k]) ++wrong;
        }
      }
    });
  }
  std::thread clearer([&] {
    while (!stop.load()) {
      tok.clear_cache();
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  clearer.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(tok.encode_batch(texts), expected);
}

}  // namespace
}  // namespace kiln::text
