// GPT-2 to llama.cpp's GGUF layout and back: f32 bit for bit, f16 and q8_0
// as ggml's rounding gives them, the tokenizer carried along, and files
// kiln cannot run refused with the reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <unistd.h>

#include "kiln/io/gguf.h"
#include "kiln/models/gpt_gguf.h"
#include "kiln/ops/ops.h"
#include "kiln/text/gpt2_builtin.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::temp_directory_path() / ("kiln_gguf_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() { fs::remove(path); }
};

GptConfig small_gpt2_vocab() {
  return GptConfig{.vocab_size = 50257, .n_positions = 32, .n_embd = 32, .n_layer = 2, .n_head = 2};
}

TEST(GptGguf, F32RoundTripIsBitExactAndCarriesTheTokenizer) {
  Generator gen(5);
  const Gpt model(small_gpt2_vocab(), gen);
  const TempFile f("f32.gguf");
  save_gpt2_gguf(model, text::gpt2_builtin_tokenizer(), f.path);
  const io::GgufFile file = io::GgufFile::open(f.path);
  EXPECT_EQ(file.get<std::string>("general.architecture"), "gpt2");
  EXPECT_EQ(file.info("blk.1.attn_qkv.weight").ne, (std::vector<std::uint64_t>{32, 96}));  // ggml {in, out}
  EXPECT_TRUE(file.contains("output.weight"));
  Generator other(6);
  const auto back = load_gpt2_gguf(f.path, other);
  const auto a = model.named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].second.detach().to_vector<float>(), b[i].second.detach().to_vector<float>()) << a[i].first;
  }
  const auto tok = text::BpeTokenizer::from_gguf(file);
  const std::string s = "Hello GGUF, caf\xc3\xa9!";
  EXPECT_EQ(tok.encode(s), text::gpt2_builtin_tokenizer().encode(s));
}

TEST(GptGguf, F16AndQ8_0FollowGgmlRounding) {
  Generator gen(7);
  const Gpt model(small_gpt2_vocab(), gen);
  for (const io::GgmlType type : {io::GgmlType::f16, io::GgmlType::q8_0}) {
    const TempFile f(std::string(io::ggml_type_name(type)) + ".gguf");
    save_gpt2_gguf(model, text::gpt2_builtin_tokenizer(), f.path, type);
    const io::GgufFile file = io::GgufFile::open(f.path);
    EXPECT_EQ(file.info("blk.0.ffn_up.weight").type, type);
    EXPECT_EQ(file.info("blk.0.ffn_up.bias").type, io::GgmlType::f32);  // vectors stay f32
    Generator other(8);
    const auto back = load_gpt2_gguf(f.path, other);
    const auto a = model.named_parameters(), b = back->named_parameters();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::vector<float> v = a[i].second.detach().to_vector<float>();
      std::vector<float> want(v.size());
      if (a[i].second.dim() >= 2) {
        io::gguf_dequantize(type, io::gguf_quantize(type, v), want);
      } else {
        want = v;
      }
      EXPECT_EQ(b[i].second.detach().to_vector<float>(), want) << a[i].first << " " << io::ggml_type_name(type);
    }
  }
}

TEST(GptGguf, UnsupportedFilesAreRefusedWithTheReason) {
  const auto message = [](const fs::path& p) {
    try {
      Generator gen(1);
      load_gpt2_gguf(p, gen);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::vector<float> row(64 * 32, 0.5F);
  const std::vector<std::byte> f32 = io::gguf_quantize(io::GgmlType::f32, row);
  const io::GgufMetadata gpt2 = {{"general.architecture", "gpt2"},
                                 {"gpt2.block_count", std::uint32_t{1}},
                                 {"gpt2.context_length", std::uint32_t{8}},
                                 {"gpt2.embedding_length", std::uint32_t{32}},
                                 {"gpt2.attention.head_count", std::uint32_t{2}}};
  const TempFile llama("llama.gguf");
  io::GgufMetadata llama_md = gpt2;
  llama_md[0].second = io::GgufValue("llama");
  io::write_gguf(llama.path, llama_md, {{"token_embd.weight", io::GgmlType::f32, {64, 32}, f32}});
  EXPECT_NE(message(llama.path).find("architecture 'llama' is not supported"), std::string::npos);
  // A tensor type kiln does not decode (q4_1: 20 bytes per 32 values).
  const TempFile q41("q4_1.gguf");
  const std::vector<std::byte> q41_bytes(64 * 20);
  io::write_gguf(q41.path, gpt2, {{"token_embd.weight", io::GgmlType::q4_1, {64, 32}, q41_bytes}});
  EXPECT_NE(message(q41.path).find("token_embd.weight has type q4_1"), std::string::npos) << message(q41.path);
  // A tensor missing.
  const TempFile partial("partial.gguf");
  io::write_gguf(partial.path, gpt2, {{"token_embd.weight", io::GgmlType::f32, {64, 32}, f32}});
  EXPECT_NE(message(partial.path).find("no tensor position_embd.weight"), std::string::npos) << message(partial.path);
  // A tokenizer that does not fit the model.
  Generator gen(2);
  const Gpt small(GptConfig{.vocab_size = 64, .n_positions = 8, .n_embd = 32, .n_layer = 1, .n_head = 2}, gen);
  const TempFile out("small.gguf");
  EXPECT_THROW(save_gpt2_gguf(small, text::gpt2_builtin_tokenizer(), out.path), Error);
  EXPECT_FALSE(fs::exists(out.path));
}

}  // namespace
}  // namespace kiln::models
