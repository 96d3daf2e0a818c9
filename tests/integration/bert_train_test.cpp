// BERT pretraining (task "bert") and transfer learning (model.pretrained) run
// as a user would: the demo configs of examples/ on a slice of the real
// fortunes, a resume that continues exactly, and clear errors for bad input.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <sstream>
#include <string>

#include "kiln_process.h"

namespace {

using namespace kiln_it;

std::string example(const std::string& name) { return std::string(KILN_EXAMPLES_DIR) + "/" + name; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last line of `out` that contains `key`.
std::string last_line_with(const std::string& out, const std::string& key) {
  std::istringstream in(out);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.find(key) != std::string::npos) found = line;
  }
  return found;
}

// The fine-tuning demo's config pointed at `pretrained`, with `extra` model keys.
fs::path fine_tune_config(const TempDir& dir, const fs::path& pretrained, const std::string& extra = "",
                          const std::string& maxlen = "128") {
  std::string text = read_text(example("bert_fortune_categories.toml"));
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("runs/bert_fortunes/hf", pretrained.string());
  replace("warmup_steps = 30", "warmup_steps = 1");
  replace("maxlen = 128", "maxlen = " + maxlen);
  if (extra.starts_with("freeze_body")) {
    replace("freeze_body = false\n", extra);
  } else {
    replace("dropout = 0.1\n", "dropout = 0.1\n" + extra);
  }
  const fs::path p = dir.path() / ("fine_tune" + std::to_string(std::hash<std::string>{}(extra + maxlen)) + ".toml");
  write_raw(p, text);
  return p;
}

TEST(BertTrain, PretrainThenFineTuneOnTheFortuneCategories) {
  const TempDir dir;
  const fs::path bert = dir.path() / "bert";
  // All the fortunes (so that kiln eval, which has no --limit, sees the same held-out texts), 4 steps.
  const Result pre = run_kiln({"train", example("bert_fortunes.toml"), "--output-dir", bert.string(), "--epochs", "4",
                               "--threads", "2"});
  ASSERT_EQ(pre.exit_code, 0) << pre.out << pre.err;
  EXPECT_NE(pre.out.find("WordPiece vocabulary"), std::string::npos) << pre.out;
  EXPECT_NE(pre.out.find("held-out MLM loss"), std::string::npos) << pre.out;
  for (const char* f : {"hf/config.json", "hf/model.safetensors", "hf/vocab.txt", "vocab.txt", "log.jsonl"}) {
    EXPECT_TRUE(fs::exists(bert / f)) << f;
  }
  // kiln eval scores the saved model on the same held-out batches: the same figures.
  const Result pre_eval = run_kiln({"eval", example("bert_fortunes.toml"), "--output-dir", bert.string()});
  ASSERT_EQ(pre_eval.exit_code, 0) << pre_eval.out << pre_eval.err;
  EXPECT_EQ(last_line_with(pre_eval.out, "held-out MLM loss"), last_line_with(pre.out, "held-out MLM loss"));

  for (const std::string extra : {"", "from_scratch = true\n", "freeze_body = true\n"}) {
    const fs::path out = dir.path() / ("ft" + std::to_string(extra.size()));  // ft0: full fine-tuning
    const Result ft = run_kiln({"train", fine_tune_config(dir, bert / "hf", extra).string(), "--output-dir", out.string(),
                                "--epochs", "1", "--limit", "20", "--threads", "2"});
    ASSERT_EQ(ft.exit_code, 0) << extra << ft.out << ft.err;
    EXPECT_NE(ft.out.find("classification head on BERT from"), std::string::npos) << ft.out;
    EXPECT_NE(ft.out.find("test:  accuracy"), std::string::npos) << ft.out;
    if (extra.starts_with("freeze")) {
      EXPECT_NE(ft.out.find("body frozen"), std::string::npos) << ft.out;
    }
    if (extra.starts_with("from_scratch")) {
      EXPECT_NE(ft.out.find("random weights shaped like"), std::string::npos) << ft.out;
    }
  }
  // kiln eval rebuilds the model from the config and the run's weights (on the whole test set).
  const Result ev = run_kiln({"eval", fine_tune_config(dir, bert / "hf").string(), "--output-dir", (dir.path() / "ft0").string()});
  ASSERT_EQ(ev.exit_code, 0) << ev.out << ev.err;
  EXPECT_NE(last_line_with(ev.out, "test:").find("accuracy"), std::string::npos) << ev.out;
}

TEST(BertTrain, InterruptedRunResumesToTheSameWeights) {
  const TempDir dir;
  // 12 steps on a slice; Ctrl-C once training has started, then --resume: the
  // final weights equal those of the run that was never stopped (each step's
  // batch comes from its own seed, the dropout generator is in the checkpoint).
  std::string text = read_text(example("bert_fortunes.toml"));
  text.replace(text.find("steps = 3000"), 12, "steps = 12");
  text.replace(text.find("warmup_steps = 300"), 18, "warmup_steps = 3");
  text.replace(text.find("log_every = 25"), 14, "log_every = 1");
  const fs::path cfg = dir.path() / "bert.toml";
  write_raw(cfg, text);
  const fs::path a = dir.path() / "a", b = dir.path() / "b";
  const Result whole = run_kiln({"train", cfg.string(), "--output-dir", a.string(), "--limit", "150", "--threads", "2"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const pid_t pid = spawn_kiln({"train", cfg.string(), "--output-dir", b.string(), "--limit", "150", "--threads", "2"},
                               dir.path() / "out.txt", dir.path() / "err.txt");
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 1200 && slurp(dir.path() / "out.txt").find("step 2/") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of saving";
  const std::string first = slurp(dir.path() / "out.txt");
  if (first.find("interrupted: saved") != std::string::npos) {
    const Result resumed =
        run_kiln({"train", cfg.string(), "--output-dir", b.string(), "--limit", "150", "--threads", "2", "--resume"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_NE(resumed.out.find("resumed from"), std::string::npos) << resumed.out;
  }  // else the signal came after the last step: the run simply finished
  EXPECT_EQ(slurp(a / "hf" / "model.safetensors"), slurp(b / "hf" / "model.safetensors"));
}

TEST(BertTrain, BadInputIsNamed) {
  const TempDir dir;
  const Result missing = run_kiln({"train", fine_tune_config(dir, dir.path() / "nowhere").string(), "--output-dir",
                                   (dir.path() / "x").string(), "--limit", "5"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("model.pretrained"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("config.json"), std::string::npos) << missing.err;

  const fs::path cfg = dir.path() / "bad_bert.toml";
  write_raw(cfg, "task = \"bert\"\n[data]\nsource = \"web\"\n[model]\nhidden_size = 32\n");
  const Result source = run_kiln({"train", cfg.string(), "--output-dir", (dir.path() / "y").string()});
  EXPECT_NE(source.exit_code, 0);
  EXPECT_NE(source.err.find("data.source"), std::string::npos) << source.err;

  write_raw(cfg, "task = \"bert\"\n[data]\n[model]\nhidden_size = 30\nnum_attention_heads = 4\n");
  const Result heads = run_kiln({"train", cfg.string(), "--output-dir", (dir.path() / "z").string(), "--limit", "50"});
  EXPECT_NE(heads.exit_code, 0);
  EXPECT_NE(heads.err.find("model"), std::string::npos) << heads.err;
}

}  // namespace
