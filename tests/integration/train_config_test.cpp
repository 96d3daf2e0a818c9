// `kiln train CONFIG`, `kiln eval`, interrupts, kill -9 and --resume, run
// through the real binary on slices of the real data sets.
#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "kiln/train/checkpoint.h"
#include "kiln_process.h"

namespace {

using namespace kiln_it;

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";
const fs::path kFortunes = "/usr/share/games/fortunes";

std::string example(const std::string& name) { return std::string(KILN_EXAMPLES_DIR) + "/" + name; }

/// Writes `text` as a config file in `dir`.
std::string config_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const fs::path p = dir.path() / name;
  write_raw(p, text);
  return p.string();
}

const char* const kMinimal = R"(
[data]
dataset = "fashion-mnist"
limit = 200
[[model.layers]]
type = "dense"
units = 10
[fit]
epochs = 1
)";

TEST(TrainConfig, UnknownKeyIsNamedWithTheKnownOnes) {
  const TempDir tmp;
  const auto cfg = config_file(tmp, "c.toml", std::string(kMinimal) + "epohcs = 3\n");
  expect_clean_error(run_kiln({"train", cfg}), "fit.epohcs: unknown key (known keys here: epochs,");
}

TEST(TrainConfig, WrongTypeIsNamed) {
  const TempDir tmp;
  std::string text = kMinimal;
  text.replace(text.find("units = 10"), 10, "units = \"ten\"");
  expect_clean_error(run_kiln({"train", config_file(tmp, "c.toml", text)}),
                     "model.layers[0].units: expected an integer, got a string");
}

TEST(TrainConfig, MissingAndMalformedFilesAreNamed) {
  const TempDir tmp;
  expect_clean_error(run_kiln({"train", (tmp.path() / "nope.toml").string()}), "nope.toml");
  expect_clean_error(run_kiln({"train", config_file(tmp, "bad.toml", "[data\nx = 1\n")}), "bad.toml:1:");
  expect_clean_error(run_kiln({"train", config_file(tmp, "bad.json", "{\"data\": }")}), "bad.json: JSON syntax error");
  expect_clean_error(run_kiln({"train", config_file(tmp, "c.yaml", "a: 1")}), "unknown extension '.yaml'");
  std::string text = kMinimal;
  text.replace(text.find("dataset = \"fashion-mnist\""), 25, "dataset = \"fashion-mnist\"\npath = \"/no/such/dir\"");
  expect_clean_error(run_kiln({"train", config_file(tmp, "c.toml", text)}), "/no/such/dir");
  text = kMinimal;
  text.replace(text.find("type = \"dense\""), 14, "type = \"densse\"");
  expect_clean_error(run_kiln({"train", config_file(tmp, "c.toml", text)}),
                     "model.layers[0].type: unknown layer type 'densse'");
}

/// Each example trains on a slice of its data and leaves its outputs behind.
class ExampleSlice : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleSlice, TrainsOnASliceAndWritesItsOutputs) {
  const std::string name = GetParam();
  const bool text = name.rfind("fortune", 0) == 0;
  if (!fs::exists(text ? kFortunes : kFashion)) GTEST_SKIP() << "data not installed";
  const TempDir tmp;
  const Result r = run_kiln({"train", example(name + ".toml"), "--epochs", "1", "--limit", text ? "60" : "600",
                             "--output-dir", tmp.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(test:.*accuracy [01]\.\d{4})"))) << r.out;
  for (const char* f : {"model.safetensors", "log.csv", "log.jsonl", "curves_loss.png"}) {
    EXPECT_TRUE(fs::exists(tmp.path() / f)) << f;
  }
  // `kiln eval` rebuilds the model from the config and reads the same test figures.
  const Result e = run_kiln({"eval", example(name + ".toml"), "--output-dir", tmp.path().string()});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("test:"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleSlice,
                         ::testing::Values("fashion_mlp", "fashion_cnn", "fashion_row_lstm", "fortune_lstm", "fortune_bow"));

/// The log's epoch rows without the training-set metrics (those of a resumed
/// epoch cover only the batches after the resume): epoch, loss, lr and val_*.
std::vector<std::string> comparable_rows(const fs::path& csv) {
  std::istringstream in(slurp(csv));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  {
    std::istringstream h(line);
    for (std::string c; std::getline(h, c, ',');) header.push_back(c);
  }
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string row;
    std::size_t i = 0;
    for (std::string c; std::getline(l, c, ','); ++i) {
      const std::string& name = header.at(i);
      if (name == "epoch" || name == "loss" || name == "lr" || name.rfind("val_", 0) == 0) row += name + "=" + c + " ";
    }
    rows.push_back(row);
  }
  return rows;
}

TEST(TrainResume, KilledAtRandomMomentsThenResumedMatchesAnUninterruptedRun) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST not installed";
  const std::string cfg = std::string(KILN_FIXTURES_DIR) + "/configs/tiny_mlp.toml";
  const TempDir ref, run;
  const Result a = run_kiln({"train", cfg, "--output-dir", ref.path().string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;

  std::mt19937 rng(20261129);
  const fs::path ckpt = run.path() / "checkpoint.safetensors";
  int kills_with_checkpoint = 0;
  // At least 6 kills, and more (up to 20) until two landed after a checkpoint:
  // on a loaded machine start-up alone can outlast the early kills.
  for (int attempt = 0; attempt < 20 && (attempt < 6 || kills_with_checkpoint < 2); ++attempt) {
    std::vector<std::string> args = {"train", cfg, "--output-dir", run.path().string(), "--checkpoint-every", "3"};
    if (fs::exists(ckpt)) args.emplace_back("--resume");
    const pid_t pid = spawn_kiln(args, run.path() / "out.txt", run.path() / "err.txt");
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 1200)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (fs::exists(ckpt)) {
      // Never corrupt, whenever the kill landed.
      EXPECT_NO_THROW((void)kiln::train::load_checkpoint(ckpt)) << "attempt " << attempt;
      ++kills_with_checkpoint;
    }
  }
  std::vector<std::string> args = {"train", cfg, "--output-dir", run.path().string(), "--checkpoint-every", "3"};
  if (fs::exists(ckpt)) args.emplace_back("--resume");
  const Result b = run_kiln(args);
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_GT(kills_with_checkpoint, 0) << "no kill landed after a checkpoint; the test proved little";
  EXPECT_EQ(comparable_rows(run.path() / "log.csv"), comparable_rows(ref.path() / "log.csv"));
  // The final test figures agree too.
  const auto test_line = [](const std::string& out) {
    const std::size_t at = out.rfind("test:");
    return out.substr(at, out.find('\n', at) - at);
  };
  EXPECT_EQ(test_line(b.out), test_line(a.out));
}

TEST(TrainResume, CtrlCSavesACheckpointAndExits130) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST not installed";
  const std::string cfg = std::string(KILN_FIXTURES_DIR) + "/configs/tiny_mlp.toml";
  const TempDir run;
  const pid_t pid = spawn_kiln({"train", cfg, "--output-dir", run.path().string(), "--epochs", "50"},
                               run.path() / "out.txt", run.path() / "err.txt");
  ASSERT_GT(pid, 0);
  // Wait until training has started (the first progress line), then interrupt.
  for (int i = 0; i < 600 && slurp(run.path() / "out.txt").find("step ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of saving";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_NE(slurp(run.path() / "out.txt").find("checkpoint saved to"), std::string::npos);
  EXPECT_NO_THROW((void)kiln::train::load_checkpoint(run.path() / "checkpoint.safetensors"));
}

TEST(TrainResume, MismatchedCheckpointIsRefusedNamingTheTensor) {
  if (!fs::exists(kFashion)) GTEST_SKIP() << "Fashion-MNIST not installed";
  const TempDir tmp;
  const std::string cfg = std::string(KILN_FIXTURES_DIR) + "/configs/tiny_mlp.toml";
  ASSERT_EQ(run_kiln({"train", cfg, "--output-dir", tmp.path().string(), "--epochs", "1", "--checkpoint-every", "5"})
                .exit_code,
            0);
  // The same run with a wider first layer cannot take that checkpoint.
  std::string text = slurp(cfg);
  text.replace(text.find("units = 64"), 10, "units = 32");
  const std::string other = config_file(tmp, "wider.toml", text);
  expect_clean_error(run_kiln({"train", other, "--output-dir", tmp.path().string(), "--resume"}), "0.weight");
  // A truncated checkpoint is refused, naming the file.
  const fs::path ckpt = tmp.path() / "checkpoint.safetensors";
  const std::string bytes = slurp(ckpt);
  write_raw(ckpt, bytes.substr(0, bytes.size() / 2));
  expect_clean_error(run_kiln({"train", cfg, "--output-dir", tmp.path().string(), "--resume"}),
                     "checkpoint.safetensors");
}

}  // namespace
