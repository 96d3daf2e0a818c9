// Transfer learning from a Hugging Face directory: the body's weights and
// tokenizer come from it, padding columns change nothing, freezing and the
// from-scratch control do what they say, and bad directories are named.
#include "kiln/train/pretrained_classifier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "kiln/core/error.h"
#include "kiln/models/bert_hf.h"
#include "kiln/ops/ops.h"
#include "kiln/text/wordpiece_trainer.h"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = KILN_FIXTURES_DIR;

const std::vector<std::string> kTexts = {"The cat sat on the mat.", "Computers compute numbers all day.",
                                         "Politics is the art of the possible.", "Songs and poems rhyme."};

// Largest |a - b| over all elements (same shapes).
double max_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to(DType::f32).contiguous().to_vector<float>(), y = b.to(DType::f32).contiguous().to_vector<float>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0.0;
  for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i) m = std::max(m, std::abs(static_cast<double>(x[i]) - y[i]));
  return m;
}

// Removes the test's directories when the test ends.
struct TempDirs : ::testing::EmptyTestEventListener {
  std::vector<fs::path> made;
  void OnTestEnd(const ::testing::TestInfo&) override {
    for (const fs::path& d : made) fs::remove_all(d);
    made.clear();
  }
};
TempDirs& temp_dirs() {
  static TempDirs* dirs = [] {
    auto* d = new TempDirs;  // owned by gtest's listener list from here on
    ::testing::UnitTest::GetInstance()->listeners().Append(d);
    return d;
  }();
  return *dirs;
}

// A directory of this test's own: ctest runs tests in parallel processes.
fs::path fresh_dir(const std::string& name) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const fs::path d = fs::temp_directory_path() / ("kiln_pretrained_" + test + "_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  temp_dirs().made.push_back(d);
  return d;
}

fs::path tiny_bert_dir() {
  const fs::path d = fresh_dir("bert");
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(kFixtures / "tiny-bert" / f, d / f);
  text::WordPieceTrainerOptions o;
  o.vocab_size = 200;  // below the fixture's 512
  text::WordPieceTrainer t(o);
  t.feed(kTexts);
  text::save_vocab_file(t.train(), d / "vocab.txt");
  return d;
}

TEST(PretrainedClassifier, BertBodyLoadsAndPaddingColumnsChangeNothing) {
  const fs::path dir = tiny_bert_dir();
  Generator gen(1);
  PretrainedClassifier p = load_pretrained_classifier({.dir = dir, .num_classes = 3}, gen);
  Generator gen2(1);
  const auto reference = models::load_hf_bert(dir, gen2);
  const auto params = p.model->named_parameters();
  const auto it = std::find_if(params.begin(), params.end(),
                               [](const auto& np) { return np.first.ends_with("embeddings.word_embeddings.weight"); });
  ASSERT_NE(it, params.end());
  EXPECT_EQ(max_diff(it->second, reference->word_embeddings()), 0.0);

  std::vector<std::int64_t> a = p.encode(kTexts[0], 16), b = p.encode(kTexts[1], 16);
  EXPECT_EQ(a.front(), 2);  // [CLS] (the trainer's ids: [PAD] [UNK] [CLS] [SEP] [MASK])
  EXPECT_EQ(a.back(), 3);   // [SEP], kept when the text is truncated
  EXPECT_LE(p.encode(kTexts[1] + " " + kTexts[2] + " " + kTexts[3], 8).size(), 8U);
  const auto padded = [&](std::int64_t T) {
    std::vector<std::int64_t> v(static_cast<std::size_t>(2 * T), p.pad_id);
    std::copy(a.begin(), a.end(), v.begin());
    std::copy(b.begin(), b.end(), v.begin() + T);
    return Tensor::from_vector(v, {2, T});
  };
  p.model->eval();
  NoGradGuard no_grad;
  const Tensor tight = p.model->forward(padded(static_cast<std::int64_t>(std::max(a.size(), b.size()))));
  const Tensor loose = p.model->forward(padded(40));
  EXPECT_EQ(tight.shape(), (Shape{2, 3}));
  EXPECT_LT(max_diff(tight, loose), 1e-5);
}

TEST(PretrainedClassifier, FrozenBodyAndFromScratchControl) {
  const fs::path dir = tiny_bert_dir();
  Generator gen(2);
  const PretrainedClassifier frozen = load_pretrained_classifier({.dir = dir, .num_classes = 2, .freeze_body = true}, gen);
  for (const auto& [name, t] : frozen.model->named_parameters()) {
    EXPECT_EQ(t.requires_grad(), name.find(".head.") != std::string::npos) << name;
  }
  const PretrainedClassifier scratch =
      load_pretrained_classifier({.dir = dir, .num_classes = 2, .freeze_body = false, .dropout = 0.1, .from_scratch = true}, gen);
  Generator gen3(2);
  const auto reference = models::load_hf_bert(dir, gen3);
  for (const auto& [name, t] : scratch.model->named_parameters()) {
    if (name.ends_with("embeddings.word_embeddings.weight")) {
      EXPECT_GT(max_diff(t, reference->word_embeddings()), 1e-3);
    }
  }
}

TEST(PretrainedClassifier, Gpt2BodyUsesItsTokenizerAndPadsWithEndOfText) {
  const fs::path dir = fresh_dir("gpt2");
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(kFixtures / "tiny-gpt2" / f, dir / f);
  Generator gen(3);
  // No tokenizer.json: GPT-2's built-in vocabulary (the fixture has its 50257 tokens).
  PretrainedClassifier p = load_pretrained_classifier({.dir = dir, .num_classes = 4}, gen);
  EXPECT_EQ(p.pad_id, 50256);  // <|endoftext|>
  const std::vector<std::int64_t> ids = p.encode(kTexts[2], 64);
  std::vector<std::int64_t> row(64, p.pad_id);
  std::copy(ids.begin(), ids.end(), row.begin());
  p.model->eval();
  NoGradGuard no_grad;
  const Tensor loose = p.model->forward(Tensor::from_vector(row, {1, 64}));
  const Tensor tight = p.model->forward(Tensor::from_vector(ids, {1, static_cast<std::int64_t>(ids.size())}));
  EXPECT_LT(max_diff(tight, loose), 1e-5);
}

TEST(PretrainedClassifier, BadDirectoriesAreNamed) {
  Generator gen(4);
  const fs::path empty = fresh_dir("empty");
  try {
    (void)load_pretrained_classifier({.dir = empty, .num_classes = 2}, gen);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
  std::ofstream(empty / "config.json") << R"({"model_type": "llama"})";
  try {
    (void)load_pretrained_classifier({.dir = empty, .num_classes = 2}, gen);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama"), std::string::npos) << e.what();
  }
  const fs::path no_vocab = tiny_bert_dir();
  fs::remove(no_vocab / "vocab.txt");
  EXPECT_THROW((void)load_pretrained_classifier({.dir = no_vocab, .num_classes = 2}, gen), Error);
}

}  // namespace
}  // namespace kiln::train
