// Inputs the tokenizer fuzz targets (fuzz/targets/fuzz_bpe_*.cpp,
// fuzz_wordpiece.cpp, fuzz_keras.cpp) found to misbehave, kept as regressions.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "kiln/core/error.h"
#include "kiln/text/bpe_tokenizer.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

// fuzz_bpe_files: a 70-byte tokenizer.json with one token at id 10^9 made the
// constructor allocate its dense id tables for a billion ids (tens of GB).
TEST(TokenizerFuzzRegressions, HugeSparseIdIsRejectedNotAllocated) {
  const std::string path = testing::temp_path("huge_id.json");
  std::ofstream(path, std::ios::binary)
      << R"({"pre_tokenizer":{"type":"ByteLevel"},"model":{"vocab":{"a":1000000000}}})";
  try {
    BpeTokenizer::from_tokenizer_json(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("1000000000"), std::string::npos) << msg;
  }

  BpeModel m;
  m.vocab = {{"a", 0}};
  m.added_tokens = {{"<big>", 5'000'000, true}};
  EXPECT_THROW(BpeTokenizer(m, "model"), Error);
  // Gaps of realistic size are still accepted.
  m.added_tokens = {{"<pad>", 1000, true}};
  EXPECT_EQ(BpeTokenizer(m, "model").vocab_size(), 1001u);
}

// fuzz_bpe_files: the number "6e1615" overflows a double, and nlohmann throws
// out_of_range for it rather than parse_error, which escaped as a non-kiln exception.
TEST(TokenizerFuzzRegressions, NumberOverflowInJsonIsAnError) {
  const std::string json_path = testing::temp_path("overflow.json");
  const std::string bpe_path = testing::temp_path("overflow.bpe");
  std::ofstream(json_path, std::ios::binary) << "6e1615\n";
  std::ofstream(bpe_path, std::ios::binary) << "#version: 0.2\n";
  try {
    BpeTokenizer::from_tokenizer_json(json_path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(json_path + ": invalid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(BpeTokenizer::from_gpt2_files(json_path, bpe_path), Error);
}

}  // namespace
}  // namespace kiln::text
