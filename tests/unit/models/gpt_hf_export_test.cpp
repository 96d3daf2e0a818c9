// Exporting a GPT to Hugging Face's layout: what transformers wrote for
// tiny-gpt2 comes back out tensor for tensor, and a kiln-trained model
// survives save + load bit for bit, tokenizer included.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>
#include <string>

#include <unistd.h>

#include "kiln/io/safetensors.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/ops/ops.h"
#include "kiln/text/gpt2_builtin.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;
const std::string kFixtures = KILN_FIXTURES_DIR;

struct ScratchDir {
  fs::path path;
  ScratchDir() : path(fs::temp_directory_path() / ("kiln_hf_export_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
};

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         a.contiguous().to_vector<float>() == b.contiguous().to_vector<float>();
}

TEST(GptHfExport, TransformersTensorsComeBackOutUnchanged) {
  Generator gen(1);
  const auto model = load_hf_gpt2(kFixtures + "/tiny-gpt2", gen);
  const ScratchDir dir;
  save_hf_gpt2(*model, dir.path);
  const auto original = io::SafetensorsFile::open(kFixtures + "/tiny-gpt2/model.safetensors");
  const auto saved = io::SafetensorsFile::open(dir.path / "model.safetensors");
  EXPECT_EQ(saved.metadata().at("format"), "pt");
  std::size_t compared = 0;
  for (const auto& e : original.entries()) {
    std::string name = e.name.starts_with("transformer.") ? e.name.substr(12) : e.name;
    if (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || name == "lm_head.weight") continue;
    EXPECT_TRUE(bit_equal(saved.tensor(name), original.tensor(e.name))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, saved.entries().size());  // nothing extra was written
  const GptConfig back = read_hf_gpt2_config(dir.path / "config.json");
  EXPECT_EQ(back.str(), model->config().str());
  EXPECT_EQ(back.layer_norm_eps, model->config().layer_norm_eps);
}

TEST(GptHfExport, KilnModelAndTokenizerRoundTripBitForBit) {
  Generator gen(9);
  Gpt model(GptConfig{.vocab_size = 50257, .n_positions = 32, .n_embd = 16, .n_layer = 2, .n_head = 2}, gen);
  const ScratchDir dir;
  save_hf_gpt2(model, dir.path, &text::gpt2_builtin_tokenizer());
  Generator gen2(99);  // different initial weights, all replaced by the load
  const auto back = load_hf_gpt2(dir.path, gen2);
  const auto want = model.named_parameters(), got = back->named_parameters();
  ASSERT_EQ(want.size(), got.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].first, got[i].first);
    EXPECT_TRUE(bit_equal(want[i].second.detach(), got[i].second.detach())) << want[i].first;
  }
  const auto tok = text::BpeTokenizer::from_tokenizer_json((dir.path / "tokenizer.json").string());
  const std::string sample = "Hello, world! Caf\xc3\xa9 <|endoftext|>";
  EXPECT_EQ(tok.encode(sample), text::gpt2_builtin_tokenizer().encode(sample));
  std::ifstream config(dir.path / "config.json");
  const auto j = nlohmann::json::parse(config);
  EXPECT_EQ(j["eos_token_id"], 50256);
  EXPECT_EQ(j["architectures"][0], "GPT2LMHeadModel");
}

TEST(GptHfExport, TokenizerLargerThanTheModelIsRefused) {
  Generator gen(2);
  Gpt model(GptConfig{.vocab_size = 100, .n_positions = 8, .n_embd = 8, .n_layer = 1, .n_head = 2}, gen);
  const ScratchDir dir;
  EXPECT_THROW(save_hf_gpt2(model, dir.path, &text::gpt2_builtin_tokenizer()), Error);
}

}  // namespace
}  // namespace kiln::models
