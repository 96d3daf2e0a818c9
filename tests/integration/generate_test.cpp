// `kiln generate` run as a user would, on the tiny-gpt2 checkpoint (Hugging
// Face layout, GPT-2's vocabulary, so the built-in tokenizer applies).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/generate/generate.h"
#include "kiln/generate/gpt_lm.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/ops/quantized_weights.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln_process.h"

namespace {

using namespace kiln_it;

nlohmann::json run_json(const std::vector<std::string>& args, const std::string& stdin_data = "") {
  std::vector<std::string> full = {"generate", "--model", fixture("tiny-gpt2"), "--json"};
  full.insert(full.end(), args.begin(), args.end());
  const Result r = run_kiln(full, {}, stdin_data);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

TEST(GenerateCli, GreedyTokensAreTheLibrarysAndStdinWorksLikeAnArgument) {
  const nlohmann::json j = run_json({"Hello world", "-n", "12", "--ignore-eos"});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["finish_reason"], "length");
  const std::vector<std::int64_t> got = j["tokens"].get<std::vector<std::int64_t>>();
  // The same model and prompt through the library.
  kiln::Generator gen(0);
  auto model = kiln::models::load_hf_gpt2(fixture("tiny-gpt2"), gen);
  kiln::generate::GptLm lm(*model);
  std::vector<std::int64_t> prompt;
  for (const auto id : kiln::text::gpt2_builtin_tokenizer().encode("Hello world")) prompt.push_back(id);
  EXPECT_EQ(j["prompt_tokens"], prompt.size());
  EXPECT_EQ(got, kiln::generate::generate(lm, prompt, {.max_new_tokens = 12}).tokens);
  EXPECT_EQ(run_json({"-n", "12", "--ignore-eos"}, "Hello world\n")["tokens"], j["tokens"]);
}

TEST(GenerateCli, SamplingFollowsTheSeedAndStreamsText) {
  const auto a = run_json({"Once upon", "-n", "10", "--temperature", "1.2", "--top-k", "50", "--top-p", "0.95",
                           "--seed", "3", "--ignore-eos"});
  const auto b = run_json({"Once upon", "-n", "10", "--temperature", "1.2", "--top-k", "50", "--top-p", "0.95",
                           "--seed", "3", "--ignore-eos"});
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["tokens"].size(), 10U);
  // Streaming mode prints the prompt and then the same text.
  const Result r = run_kiln({"generate", "--model", fixture("tiny-gpt2"), "Once upon", "-n", "10", "--temperature",
                             "1.2", "--top-k", "50", "--top-p", "0.95", "--seed", "3", "--ignore-eos"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon" + a["text"].get<std::string>() + "\n");
  EXPECT_NE(r.err.find("10 tokens, finished: length"), std::string::npos) << r.err;
}

TEST(GenerateCli, StopStringEndsTheTextWithoutPrintingIt) {
  const auto free_run = run_json({"The", "-n", "16", "--ignore-eos"});
  const std::string text = free_run["text"];
  ASSERT_GE(text.size(), 6U);
  const std::string stop = text.substr(3, 2);  // two bytes from inside the free run's text
  const auto stopped = run_json({"The", "-n", "16", "--ignore-eos", "--stop", stop});
  EXPECT_EQ(stopped["finish_reason"], "stop");
  EXPECT_EQ(stopped["text"], text.substr(0, text.find(stop)));
}

TEST(GenerateCli, BeamSearchPrintsTheBeamsBestFirst) {
  const auto j = run_json({"Hello", "-n", "6", "--beams", "3", "--ignore-eos"});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3U);
  for (std::size_t i = 1; i < j.size(); ++i) EXPECT_GE(j[i - 1]["score"].get<double>(), j[i]["score"].get<double>());
}

// --weights q8_0 decodes with the library's q8_0 arithmetic; --bf16 is --weights bf16.
TEST(GenerateCli, WeightFormatsAreTheLibrarys) {
  kiln::Generator gen(0);
  auto model = kiln::models::load_hf_gpt2(fixture("tiny-gpt2"), gen);
  kiln::generate::GptLm lm(*model);
  std::vector<std::int64_t> prompt;
  for (const auto id : kiln::text::gpt2_builtin_tokenizer().encode("Hello world")) prompt.push_back(id);
  std::vector<std::int64_t> want;
  {
    const kiln::WeightFormatGuard q8(kiln::WeightFormat::q8_0);
    want = kiln::generate::generate(lm, prompt, {.max_new_tokens = 12}).tokens;
  }
  const nlohmann::json q8 = run_json({"Hello world", "-n", "12", "--ignore-eos", "--weights", "q8_0"});
  EXPECT_EQ(q8["tokens"].get<std::vector<std::int64_t>>(), want);
  EXPECT_EQ(run_json({"Hello world", "-n", "12", "--ignore-eos", "--bf16"})["tokens"],
            run_json({"Hello world", "-n", "12", "--ignore-eos", "--weights", "bf16"})["tokens"]);
  const std::string model_dir = fixture("tiny-gpt2");
  expect_clean_error(run_kiln({"generate", "--model", model_dir, "hi", "--weights", "q4_0"}),
                     "unknown weight format 'q4_0' (expected f32, bf16 or q8_0)");
  expect_clean_error(run_kiln({"generate", "--model", model_dir, "hi", "--weights", "q8_0", "--bf16"}), "--bf16");
}

TEST(GenerateCli, BadInputIsRefusedWithTheCause) {
  const std::string model = fixture("tiny-gpt2");
  expect_clean_error(run_kiln({"generate", "--model", model, "caf\xe9 au lait"}), "not valid UTF-8: byte 3 (0xe9)");
  std::string long_prompt;
  for (int i = 0; i < 70; ++i) long_prompt += " word";
  expect_clean_error(run_kiln({"generate", "--model", model, long_prompt}), "above the model's context of 64");
  const TempDir tmp;
  expect_clean_error(run_kiln({"generate", "--model", tmp.path().string(), "hi"}), "is not a model: expected a GGUF file or a directory");
  expect_clean_error(run_kiln({"generate", "--model", model, "hi", "--tokenizer", (tmp.path() / "none.json").string()}),
                     "no such file");
  // A tokenizer with a broken merge line names the file and line.
  write_raw(tmp.path() / "vocab.bpe", "#version: 0.2\nĠt\n");
  std::filesystem::copy_file(fixture("text/encoder.json"), tmp.path() / "encoder.json");
  expect_clean_error(run_kiln({"generate", "--model", model, "hi", "--tokenizer", tmp.path().string()}),
                     "vocab.bpe:2: expected a merge as two tokens separated by one space");
  expect_clean_error(run_kiln({"generate", "--model", model, "hi", "--top-p", "1.5"}), "top-p");
}

}  // namespace

namespace {

using namespace kiln_it;

TEST(ConvertCli, GgufExportsGenerateTheSameGreedyTokens) {
  const TempDir tmp;
  const auto tokens_of = [&](const std::string& model) {
    const Result r = run_kiln({"generate", "--model", model, "Hello world", "-n", "10", "--ignore-eos", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["tokens"] : nlohmann::json();
  };
  const auto want = tokens_of(fixture("tiny-gpt2"));
  for (const std::string type : {"f32", "f16", "q8_0"}) {
    const std::string out = (tmp.path() / ("tiny-" + type + ".gguf")).string();
    const Result c = run_kiln({"convert", fixture("tiny-gpt2"), out, "--type", type});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    if (type == "f32") {
      EXPECT_EQ(tokens_of(out), want);  // exact weights: the same tokens
    }
    EXPECT_EQ(tokens_of(out).size(), 10U) << type;
  }
  // And back to Hugging Face layout from the f32 GGUF: bit for bit, the same tokens.
  const Result back = run_kiln({"convert", (tmp.path() / "tiny-f32.gguf").string(), (tmp.path() / "hf").string()});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(tokens_of((tmp.path() / "hf").string()), want);
  expect_clean_error(run_kiln({"convert", fixture("tiny-gpt2"), (tmp.path() / "x.gguf").string(), "--type", "q4_0"}),
                     "--type");
  expect_clean_error(run_kiln({"convert", tmp.path().string(), (tmp.path() / "y.gguf").string()}),
                     "neither a GGUF file nor a directory with config.json");
}

}  // namespace
