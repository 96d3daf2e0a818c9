// BpeTokenizer::from_gguf: GPT-2's vocabulary as llama.cpp's gguf-py stores it
// (tests/fixtures/gguf/gpt2-vocab.gguf, see tests/fixtures/gguf/README.md).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/io/gguf.h"
#include "kiln/text/bpe_tokenizer.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using io::GgufArray;
using io::GgufMetadata;
using io::GgufValue;

const std::string kGguf = std::string(KILN_FIXTURES_DIR) + "/gguf/gpt2-vocab.gguf";

const BpeTokenizer& gguf_gpt2() {
  static const BpeTokenizer tok = BpeTokenizer::from_gguf(io::GgufFile::open(kGguf));
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

TEST(BpeFromGguf, GptTwoVocabularyPassesEveryFixtureCase) {
  const auto cases = testing::read_jsonl(testing::fixture("gpt2_tokenizer_cases.jsonl"));
  ASSERT_FALSE(cases.empty()) << "no cases in gpt2_tokenizer_cases.jsonl";
  const BpeTokenizer& tok = gguf_gpt2();
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    const auto ids = tok.encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<TokenId>>()) << "text: " << text;
    EXPECT_EQ(tok.decode(ids), text);
  }
}

TEST(BpeFromGguf, SameTokenizerAsGptTwoFiles) {
  const BpeTokenizer& tok = gguf_gpt2();
  const BpeTokenizer files =
      BpeTokenizer::from_gpt2_files(testing::fixture("encoder.json"), testing::fixture("vocab.bpe"));
  EXPECT_EQ(tok.vocab_size(), 50257u);
  const BpeModel a = tok.model();
  const BpeModel b = files.model();
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_FALSE(a.options.add_prefix_space);
  // <|endoftext|> (token_type CONTROL) is special: matched only where allowed.
  ASSERT_EQ(tok.added_tokens().size(), 1u);
  EXPECT_EQ(tok.added_tokens()[0].content, "<|endoftext|>");
  EXPECT_EQ(tok.added_tokens()[0].id, 50256);
  EXPECT_TRUE(tok.added_tokens()[0].special);
  EXPECT_EQ(tok.encode("a<|endoftext|>", AllowedSpecial::all()), (std::vector<TokenId>{64, 50256}));
  EXPECT_EQ(tok.encode("a<|endoftext|>"), files.encode("a<|endoftext|>"));
}

// A small vocabulary in the same layout, for the error paths.
GgufMetadata tiny(const std::string& pre = "gpt-2") {
  return {{"general.architecture", "gpt2"},
          {"tokenizer.ggml.model", "gpt2"},
          {"tokenizer.ggml.pre", pre},
          {"tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "ab", "<s>", "[PAD4]", "<user>", "\u0120"}},
          {"tokenizer.ggml.token_type", std::vector<std::int32_t>{1, 1, 1, 3, 5, 4, 1}},
          {"tokenizer.ggml.merges", std::vector<std::string>{"a b"}}};
}

void set(GgufMetadata& md, const std::string& key, GgufValue v) {
  for (auto& [k, value] : md) {
    if (k == key) {
      value = std::move(v);
      return;
    }
  }
  md.emplace_back(key, std::move(v));
}

void remove_key(GgufMetadata& md, const std::string& key) {
  std::erase_if(md, [&](const auto& kv) { return kv.first == key; });
}

TEST(BpeFromGguf, TokenTypesAndOptions) {
  GgufMetadata md = tiny();
  const BpeTokenizer tok = BpeTokenizer::from_gguf_metadata(md, "tiny");
  EXPECT_EQ(tok.vocab_size(), 7u);
  // USER_DEFINED: a non-special added token, always matched.
  EXPECT_EQ(tok.encode("ab<user>b"), (std::vector<TokenId>{2, 5, 1}));
  // CONTROL: special, matched only where allowed ('<' has no token of its own).
  EXPECT_EQ(tok.encode("<s>a", AllowedSpecial::all()), (std::vector<TokenId>{3, 0}));
  EXPECT_THROW(tok.encode("<s>a"), Error);
  // UNUSED ids name no token.
  EXPECT_THROW(tok.id_to_token(4), Error);
  EXPECT_EQ(tok.encode("a b"), (std::vector<TokenId>{0, 6, 1}));

  set(md, "tokenizer.ggml.add_space_prefix", true);
  EXPECT_EQ(BpeTokenizer::from_gguf_metadata(md, "tiny").encode("ab"), (std::vector<TokenId>{6, 2}));
}

TEST(BpeFromGguf, ErrorsNameTheProblem) {
  auto fails_with = [](const GgufMetadata& md, const std::string& needle) {
    const std::string msg = message_of([&] { BpeTokenizer::from_gguf_metadata(md, "model.gguf"); });
    EXPECT_NE(msg.find("model.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  GgufMetadata md = tiny();
  remove_key(md, "tokenizer.ggml.model");
  fails_with(md, "no tokenizer.ggml.model");

  md = tiny();
  set(md, "tokenizer.ggml.model", "llama");
  fails_with(md, "'llama' (SentencePiece)");

  md = tiny();
  set(md, "tokenizer.ggml.model", std::uint32_t{2});
  fails_with(md, "tokenizer.ggml.model holds u32, expected string");

  md = tiny();
  remove_key(md, "tokenizer.ggml.pre");
  fails_with(md, "no tokenizer.ggml.pre");
  fails_with(tiny("llama3"), "'llama3'");

  md = tiny();
  set(md, "tokenizer.ggml.tokens", std::vector<std::int32_t>{1, 2});
  fails_with(md, "tokenizer.ggml.tokens is an array of i32, expected an array of string");

  md = tiny();
  set(md, "tokenizer.ggml.token_type", std::vector<std::int32_t>{1, 1});
  fails_with(md, "2 entries for 7 tokens");

  md = tiny();
  set(md, "tokenizer.ggml.token_type", std::vector<std::int32_t>{1, 6, 1, 3, 5, 4, 1});
  fails_with(md, "token 1 'b' has type BYTE");

  md = tiny();
  set(md, "tokenizer.ggml.token_type", std::vector<std::int32_t>{1, 1, 1, 3, 5, 9, 1});
  fails_with(md, "token_type 9");

  md = tiny();
  remove_key(md, "tokenizer.ggml.merges");
  fails_with(md, "no tokenizer.ggml.merges");

  md = tiny();
  set(md, "tokenizer.ggml.merges", std::vector<std::string>{"a b", "ab"});
  fails_with(md, "tokenizer.ggml.merges[1] 'ab' is not two tokens");

  md = tiny();
  set(md, "tokenizer.ggml.merges", std::vector<std::string>{"a b", "b a"});
  fails_with(md, "tokenizer.ggml.merges[1]: merge 'b a': token 'ba' is not in the vocabulary");

  md = tiny();
  set(md, "tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "ab", "<s>", "[PAD4]", "a", "x"});
  set(md, "tokenizer.ggml.token_type", std::vector<std::int32_t>{1, 1, 1, 3, 5, 1, 1});
  fails_with(md, "token 'a' appears twice");
}

TEST(BpeFromGguf, FileErrorsNameTheFile) {
  const std::string path = testing::temp_path("no_tokenizer.gguf");
  io::write_gguf(path, {{"general.architecture", "gpt2"}}, {});
  const std::string msg = message_of([&] { BpeTokenizer::from_gguf(io::GgufFile::open(path)); });
  EXPECT_NE(msg.find("GGUF file '" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no tokenizer.ggml.model"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::text
