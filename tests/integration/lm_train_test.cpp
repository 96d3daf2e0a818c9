// `kiln train` for task "lm", run as a user would: both GPT demos of examples/
// on a slice (a few steps on the real fortunes data), resume from a
// checkpoint, and the clear errors for bad input.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln_process.h"

namespace {

using namespace kiln_it;

std::string example(const std::string& name) { return std::string(KILN_EXAMPLES_DIR) + "/" + name; }

// A tiny LM config over `data_dir`, as TOML.
std::string tiny_config(const fs::path& data_dir, const std::string& extra_model = "",
                        const std::string& extra_train = "") {
  return "task = \"lm\"\nseed = 3\n[data]\ndir = \"" + data_dir.string() +
         "\"\n[model]\nn_positions = 32\nn_embd = 32\nn_layer = 2\nn_head = 4\n" + extra_model +
         "[train]\nbatch_size = 4\nseq_len = 16\nsteps = 6\nwarmup_steps = 2\nlr = 3e-3\neval_every = 3\n"
         "eval_batches = 2\nlog_every = 2\n" + extra_train + "[sample]\nprompts = [\"ab\"]\ntokens = 8\n";
}

// Characters of a small made-up text prepared as a char-level data set.
fs::path prepare_chars(const TempDir& dir) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "abc abd abe " + std::to_string(i % 7) + "\n";
  write_raw(dir.path() / "text.txt", text);
  const fs::path data = dir.path() / "data";
  const Result r = run_kiln({"data", "prepare", "--input", (dir.path() / "text.txt").string(), "--split-lines",
                             "--tokenizer", "char", "--output-dir", data.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return data;
}

TEST(LmTrain, DemoConfigsRunOnASliceOfTheRealData) {
  const TempDir dir;
  struct Demo {
    const char* config;
    const char* source;
    const char* tokenizer;
  };
  for (const Demo& d : {Demo{"gpt_fortunes.toml", "fortunes", "gpt2"}, Demo{"gpt_poems_zh.toml", "fortunes-zh", "char"},
                        Demo{"lstm_fortunes.toml", "fortunes", "gpt2"}}) {
    const fs::path data = dir.path() / d.source;
    if (!fs::exists(data / "manifest.json")) {
      const Result prep = run_kiln({"data", "prepare", "--source", d.source, "--tokenizer", d.tokenizer,
                                    "--output-dir", data.string()});
      ASSERT_EQ(prep.exit_code, 0) << prep.err;
    }
    const fs::path out = dir.path() / (std::string(d.config) + "-run");
    const Result r = run_kiln({"train", example(d.config), "--data", data.string(), "--output-dir", out.string(),
                               "--epochs", "2", "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("tok/s | MFU"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Kneser-Ney trigram"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(out / "model.safetensors"));
    EXPECT_TRUE(fs::exists(out / "checkpoint.safetensors"));
    EXPECT_FALSE(slurp(out / "samples.txt").empty());
  }
}

TEST(LmTrain, LossFallsAndResumeContinuesTheSameRun) {
  const TempDir dir;
  const fs::path data = prepare_chars(dir);
  write_raw(dir.path() / "lm.toml", tiny_config(data));
  const fs::path full = dir.path() / "full", part = dir.path() / "part";
  const Result a = run_kiln({"train", (dir.path() / "lm.toml").string(), "--output-dir", full.string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // The validation loss after the last step is below the first one.
  std::vector<double> val;
  std::istringstream log(slurp(full / "log.jsonl"));
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) val.push_back(j["val_loss"].get<double>());
  }
  ASSERT_GE(val.size(), 2U);
  EXPECT_LT(val.back(), val.front());

  // 3 steps, then --resume to 6: the same final weights as 6 steps at once.
  const Result b = run_kiln({"train", (dir.path() / "lm.toml").string(), "--output-dir", part.string(), "--epochs", "3"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const Result c = run_kiln({"train", (dir.path() / "lm.toml").string(), "--output-dir", part.string(), "--resume"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("resumed"), std::string::npos) << c.out;
  EXPECT_EQ(slurp(full / "model.safetensors"), slurp(part / "model.safetensors"));
}

TEST(LmTrain, BadInputIsRefusedWithTheCause) {
  const TempDir dir;
  const fs::path data = prepare_chars(dir);
  // A sequence length above the model's context.
  write_raw(dir.path() / "long.toml", tiny_config(data, "", "").replace(
                                          tiny_config(data).find("seq_len = 16"), 12, "seq_len = 64"));
  Result r = run_kiln({"train", (dir.path() / "long.toml").string(), "--output-dir", (dir.path() / "o1").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("seq_len"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("context of 32"), std::string::npos) << r.err;

  // A checkpoint whose tensors disagree with the config's sizes.
  write_raw(dir.path() / "lm.toml", tiny_config(data));
  ASSERT_EQ(run_kiln({"train", (dir.path() / "lm.toml").string(), "--output-dir", (dir.path() / "o2").string(),
                      "--epochs", "1"}).exit_code, 0);
  std::string wide = tiny_config(data);
  wide.replace(wide.find("n_embd = 32"), 11, "n_embd = 48");
  write_raw(dir.path() / "wide.toml", wide);
  r = run_kiln({"train", (dir.path() / "wide.toml").string(), "--output-dir", (dir.path() / "o2").string(), "--resume"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("wte.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("48]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("32]"), std::string::npos) << r.err;

  // A token file with an id beyond the vocabulary the manifest declares.
  const fs::path bad = dir.path() / "bad";
  fs::create_directories(bad);
  fs::copy_file(data / "val.bin", bad / "val.bin");
  std::string bytes = slurp(data / "train.bin");
  const std::size_t offset = 1024 + 2 * 5;  // header, then id number 5
  bytes[offset] = static_cast<char>(0xff);
  bytes[offset + 1] = static_cast<char>(0x7f);
  write_raw(bad / "train.bin", bytes);
  auto manifest = nlohmann::json::parse(slurp(data / "manifest.json"));
  write_raw(bad / "manifest.json", manifest.dump());
  fs::copy_file(data / "char_tokenizer.json", bad / "char_tokenizer.json");
  write_raw(dir.path() / "bad.toml", tiny_config(bad));
  r = run_kiln({"train", (dir.path() / "bad.toml").string(), "--output-dir", (dir.path() / "o3").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("train.bin"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("32767"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" 5"), std::string::npos) << r.err;
}

}  // namespace
