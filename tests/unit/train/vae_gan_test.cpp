// The VAE and GAN experiments (examples 4 and 5): the VAE module's outputs,
// names and loss; short runs on a slice of Fashion-MNIST that write their
// outputs; the sample-quality figures of the GAN.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "gradcheck.h"
#include "kiln/autograd/node.h"
#include "kiln/io/idx.h"
#include "kiln/io/safetensors.h"
#include "kiln/nn/linear.h"
#include "kiln/ops/ops.h"
#include "kiln/train/datasets.h"
#include "kiln/train/gan_experiment.h"
#include "kiln/train/model_builder.h"
#include "kiln/train/vae_experiment.h"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("kiln_vae_gan_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool have_fashion_mnist() { return fs::exists(io::kFashionMnistDir / "t10k-images-idx3-ubyte.gz"); }

#define REQUIRE_FASHION_MNIST() \
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"

constexpr std::int64_t kSlice = 256;  // training images of the short VAE run (and 43 test images)

/// Overrides for a run into `dir` (0 = the config's value for limit and epochs).
RunOverrides into(const fs::path& dir, std::int64_t limit = 0, std::int64_t epochs = 0) {
  RunOverrides o;
  o.output_dir = dir.string();
  if (limit > 0) o.limit = limit;
  if (epochs > 0) o.epochs = epochs;
  return o;
}

std::vector<std::string> csv_lines(const fs::path& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

/// Column `name` of a CSV file with a header line, as numbers.
std::vector<double> csv_column(const fs::path& path, const std::string& name) {
  const std::vector<std::string> lines = csv_lines(path);
  if (lines.empty()) return {};
  const auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) out.push_back(cell);
    return out;
  };
  const std::vector<std::string> header = cells(lines[0]);
  const auto col = static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  std::vector<double> values;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> row = cells(lines[i]);
    if (col < row.size()) values.push_back(std::stod(row[col]));
  }
  return values;
}

// ---- the VAE module --------------------------------------------------------------

TEST(Vae, ForwardReturnsLogitsMeanAndLogVariance) {
  Generator gen(1);
  Vae vae(VaeOptions{}, gen);
  Generator noise(2);
  const VaeOutput out = vae.forward(rand({5, 784}, gen), noise);
  EXPECT_EQ(out.logits.shape(), (Shape{5, 784}));
  EXPECT_EQ(out.mean.shape(), (Shape{5, 2}));
  EXPECT_EQ(out.log_var.shape(), (Shape{5, 2}));
}

TEST(Vae, StateDictNamesMatchTheTorchPeer) {
  Generator gen(1);
  const Vae vae(VaeOptions{}, gen);
  std::vector<std::pair<std::string, Shape>> got;
  for (const auto& [name, t] : vae.state_dict()) got.emplace_back(name, t.shape());
  const std::vector<std::pair<std::string, Shape>> want = {
      {"encoder.0.weight", {64, 784}}, {"encoder.0.bias", {64}},       {"encoder.2.weight", {32, 64}},
      {"encoder.2.bias", {32}},        {"z_mean.weight", {2, 32}},     {"z_mean.bias", {2}},
      {"z_log_var.weight", {2, 32}},   {"z_log_var.bias", {2}},        {"decoder.0.weight", {32, 2}},
      {"decoder.0.bias", {32}},        {"decoder.2.weight", {64, 32}}, {"decoder.2.bias", {64}},
      {"decoder.4.weight", {784, 64}}, {"decoder.4.bias", {784}}};
  EXPECT_EQ(got, want);
}

TEST(Vae, SampleFollowsTheNoiseGeneratorAndEveryParameterGetsAGradient) {
  Generator gen(1);
  Vae vae(VaeOptions{.encoder_units = {16}, .latent_dim = 3, .decoder_units = {16}}, gen);
  const Tensor x = rand({4, 784}, gen);
  Generator a(7), b(7), c(8);
  const std::vector<float> first = vae.forward(x, a).logits.to_vector<float>();
  EXPECT_EQ(vae.forward(x, b).logits.to_vector<float>(), first);
  EXPECT_NE(vae.forward(x, c).logits.to_vector<float>(), first);

  Generator d(7);
  vae_loss(vae.forward(x, d), x).total.backward();
  for (const auto& [name, p] : vae.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(Vae, LossIsPixelSummedBceAndKlAveragedOverImages) {
  // Two images of three pixels, a 1-d latent; the figures by hand.
  const std::vector<float> logits = {0.5F, -1.0F, 2.0F, 0.0F, 1.5F, -0.5F};
  const std::vector<float> pixels = {1.0F, 0.0F, 0.25F, 0.5F, 1.0F, 0.0F};
  const std::vector<float> mean = {0.3F, -1.2F}, log_var = {-0.4F, 0.2F};
  const VaeOutput out{.logits = Tensor::from_vector(logits, {2, 3}),
                      .mean = Tensor::from_vector(mean, {2, 1}),
                      .log_var = Tensor::from_vector(log_var, {2, 1})};
  const VaeLoss l = vae_loss(out, Tensor::from_vector(pixels, {2, 3}));
  double bce = 0.0, kl = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i], t = pixels[i];
    bce += -(t * std::log(1.0 / (1.0 + std::exp(-z))) + (1.0 - t) * std::log(1.0 - 1.0 / (1.0 + std::exp(-z))));
  }
  for (std::size_t i = 0; i < mean.size(); ++i) {
    kl += -0.5 * (1.0 + log_var[i] - mean[i] * mean[i] - std::exp(static_cast<double>(log_var[i])));
  }
  EXPECT_NEAR(l.bce.item(), bce / 2.0, 1e-5);
  EXPECT_NEAR(l.kl.item(), kl / 2.0, 1e-5);
  EXPECT_NEAR(l.total.item(), (bce + kl) / 2.0, 1e-5);
}

// ---- the VAE experiment ----------------------------------------------------------

config::Document vae_config(const std::string& extra = "") {
  return config::Document::parse(R"(
name = "vae-test"
task = "vae"
seed = 3
[data]
dataset = "fashion-mnist"
[model]
encoder_units = [32]
latent_dim = 2
decoder_units = [32]
[fit]
epochs = 2
batch_size = 32
log_every = 1000
[plots]
grid_size = 5
)" + extra,
                                 "toml", "vae_test.toml");
}

TEST(VaeExperiment, ShortRunWritesItsOutputsAndBeatsTheUntrainedModel) {
  REQUIRE_FASHION_MNIST();
  const TempDir dir("vae_run");
  const RunResult r = run_vae_experiment(vae_config(), into(dir.path(), kSlice));
  for (const char* f : {"latent.png", "grid.png", "curves.png", "log.csv", "model.safetensors"}) {
    EXPECT_TRUE(fs::is_regular_file(dir.path() / f)) << f;
  }
  ASSERT_EQ(r.test.count("elbo"), 1U);
  const double elbo = r.test.at("elbo");
  EXPECT_TRUE(std::isfinite(elbo));
  EXPECT_NEAR(elbo, -(r.test.at("bce") + r.test.at("kl")), 1e-6);
  EXPECT_GE(r.test.at("kl"), 0.0);

  // The same model untrained, on the same test images.
  const LabeledData data = load_fashion_mnist_data(io::kFashionMnistDir, ImageLayout::flat, kSlice);
  Generator gen(3);
  Vae untrained(VaeOptions{.encoder_units = {32}, .latent_dim = 2, .decoder_units = {32}}, gen);
  Generator noise(99);
  const double untrained_elbo = evaluate_vae(untrained, data.test_x, noise).elbo;
  EXPECT_GT(elbo, untrained_elbo + 20.0) << "untrained " << untrained_elbo;

  // One row per epoch, and the second epoch's test loss is lower than the first's.
  const std::vector<double> test_loss = csv_column(dir.path() / "log.csv", "test_loss");
  ASSERT_EQ(test_loss.size(), 2U);
  EXPECT_LT(test_loss[1], test_loss[0]);
  EXPECT_NEAR(test_loss[1], -elbo, 1e-4 * std::abs(elbo));

  // The saved weights load back into the model the config describes.
  const io::SafetensorsFile file = io::SafetensorsFile::open(dir.path() / "model.safetensors");
  nn::StateDict saved;
  for (const auto& e : file.entries()) saved.add(e.name, file.tensor(e.name));
  untrained.load_state_dict(saved);
  Generator noise2(99);
  EXPECT_GT(evaluate_vae(untrained, data.test_x, noise2).elbo, untrained_elbo + 20.0);
}

TEST(VaeExperiment, ResumeIsRefusedWithAClearMessage) {
  const TempDir dir("vae_resume");
  RunOverrides resume = into(dir.path());
  resume.resume = true;
  const std::string msg = test::error_of([&] { run_vae_experiment(vae_config(), resume); });
  test::expect_contains(msg, {"not supported for task vae"});
}

TEST(VaeExperiment, UnknownKeysAreNamed) {
  const TempDir dir("vae_keys");
  test::expect_contains(test::error_of([&] { run_vae_experiment(vae_config("[extra]\nx = 1\n"), into(dir.path())); }),
                        {"extra"});
  const config::Document typo = config::Document::parse(
      "task = \"vae\"\n[data]\ndataset = \"fashion-mnist\"\n[model]\nlatent_dims = 3\n", "toml", "typo.toml");
  test::expect_contains(test::error_of([&] { run_vae_experiment(typo, into(dir.path())); }),
                        {"typo.toml", "latent_dims"});
  const config::Document sgd = config::Document::parse(
      "task = \"vae\"\n[data]\ndataset = \"fashion-mnist\"\n[optimizer]\nname = \"sgd\"\n", "toml", "sgd.toml");
  test::expect_contains(test::error_of([&] { run_vae_experiment(sgd, into(dir.path())); }),
                        {"optimizer.name", "sgd", "rmsprop, adam"});
}

// ---- the GAN ---------------------------------------------------------------------

TEST(Gan, GeneratorAndDiscriminatorShapes) {
  Generator gen(1);
  Gan gan({.noise_dim = 8, .generator_channels = 4, .discriminator_channels = 4}, gen);
  const Tensor images = gan.generator()(randn({3, 8}, gen));
  EXPECT_EQ(images.shape(), (Shape{3, 1, 28, 28}));
  EXPECT_EQ(gan.discriminator()(images).shape(), (Shape{3, 1}));
  const std::vector<float> v = gan.sample(5, gen).to_vector<float>();
  ASSERT_EQ(v.size(), 5U * 784U);
  for (const float p : v) ASSERT_TRUE(p >= 0.0F && p <= 1.0F) << p;
  for (const auto& [name, t] : gan.state_dict()) {
    EXPECT_TRUE(name.rfind("generator.", 0) == 0 || name.rfind("discriminator.", 0) == 0) << name;
  }
}

/// A classifier that answers class 0 with certainty on all-one images and
/// class 1 (probability e / (e + 9)) on all-zero images.
QualityClassifier two_class_classifier() {
  Generator gen(1);
  auto linear = std::make_shared<nn::Linear>(784, 10, true, gen);
  const NoGradGuard no_grad;  // writing into parameters
  Tensor w = linear->weight(), b = linear->bias();
  fill_(w, 0.0);
  fill_(b, 0.0);
  Tensor class0_weights = w.slice(0, 0, 1), class1_bias = b.slice(0, 1, 2);
  fill_(class0_weights, 1.0);
  fill_(class1_bias, 1.0);
  QualityClassifier c;
  c.model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Layer>>{linear});
  c.layout = ImageLayout::flat;
  return c;
}

TEST(Gan, SampleScoresAreConfidenceEntropyAndCounts) {
  QualityClassifier c = two_class_classifier();
  const Tensor images = concat({Tensor::ones({6, 1, 28, 28}), Tensor::zeros({4, 1, 28, 28})}, 0);
  const SampleQuality q = score_samples(c, images, 3);
  const double p1 = std::exp(1.0) / (std::exp(1.0) + 9.0);
  EXPECT_NEAR(q.mean_confidence, (6.0 * 1.0 + 4.0 * p1) / 10.0, 1e-6);
  EXPECT_NEAR(q.class_entropy, -(0.6 * std::log(0.6) + 0.4 * std::log(0.4)), 1e-9);
  EXPECT_EQ(q.class_counts, (std::vector<std::int64_t>{6, 4, 0, 0, 0, 0, 0, 0, 0, 0}));

  const SampleQuality one = score_samples(c, Tensor::ones({5, 1, 28, 28}));
  EXPECT_EQ(one.class_entropy, 0.0);  // every sample in one class: mode collapse reads as 0
}

config::Document gan_config(const std::string& extra = "") {
  return config::Document::parse(R"(
name = "gan-test"
task = "gan"
seed = 5
)" + extra + R"(
[data]
dataset = "fashion-mnist"
[model]
noise_dim = 8
generator_channels = 4
discriminator_channels = 4
[fit]
epochs = 2
batch_size = 64
log_every = 1000
)",
                                 "toml", "gan_test.toml");
}

TEST(GanExperiment, ShortRunWritesASampleGridPerEpoch) {
  REQUIRE_FASHION_MNIST();
  const TempDir dir("gan_run");
  const RunResult r = run_gan_experiment(gan_config(), into(dir.path(), 128));  // two steps per epoch
  for (const char* f :
       {"samples_epoch_001.png", "samples_epoch_002.png", "curves.png", "log.csv", "model.safetensors"}) {
    EXPECT_TRUE(fs::is_regular_file(dir.path() / f)) << f;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "samples_epoch_003.png"));
  EXPECT_EQ(csv_column(dir.path() / "log.csv", "d_loss").size(), 2U);
  EXPECT_TRUE(std::isfinite(r.test.at("d_loss")));
  EXPECT_TRUE(std::isfinite(r.test.at("g_loss")));
  EXPECT_EQ(r.test.count("mean_confidence"), 0U);  // no classifier named: skipped
}

TEST(GanExperiment, ScoresOneThousandSamplesWithTheNamedClassifierRun) {
  REQUIRE_FASHION_MNIST();
  // A classifier run dir as `kiln train` leaves it: the config and the final weights.
  const TempDir classifier_dir("gan_classifier");
  const std::string classifier_toml = R"(
task = "classify"
[data]
dataset = "fashion-mnist"
layout = "image"
[model]
layers = [{type = "flatten"}, {type = "dense", units = 10}]
)";
  std::ofstream(classifier_dir.path() / "config.toml") << classifier_toml;
  const config::Document doc = config::Document::parse(classifier_toml, "toml", "classifier.toml");
  Generator gen(11);
  const auto classifier = build_sequential(doc.root().at("model").at("layers"), {1, 28, 28}, DType::f32, gen);
  io::save_safetensors(classifier_dir.path() / "model.safetensors", classifier->state_dict().entries());

  const TempDir dir("gan_scored");
  const RunResult r = run_gan_experiment(gan_config("quality_classifier = \"" + classifier_dir.path().string() + "\""),
                                         into(dir.path(), 64, 1));
  const double confidence = r.test.at("mean_confidence"), entropy = r.test.at("class_entropy");
  EXPECT_GT(confidence, 0.1);
  EXPECT_LE(confidence, 1.0);
  EXPECT_GE(entropy, 0.0);
  EXPECT_LE(entropy, std::log(10.0) + 1e-9);
  double total = 0.0;
  for (int k = 0; k < 10; ++k) total += r.test.at("count_" + std::to_string(k));
  EXPECT_EQ(total, 1000.0);
  // Real test images scored by the same classifier, for reference (11 of them with this slice).
  EXPECT_GT(r.test.at("real_mean_confidence"), 0.1);
  EXPECT_LE(r.test.at("real_class_entropy"), std::log(10.0) + 1e-9);
}

TEST(GanExperiment, MissingClassifierRunFailsBeforeTraining) {
  const TempDir dir("gan_missing");
  const std::string msg = test::error_of([&] {
    run_gan_experiment(gan_config("quality_classifier = \"" + (dir.path() / "nowhere").string() + "\""),
                       into(dir.path()));
  });
  test::expect_contains(msg, {"nowhere", "config.toml", "kiln train"});
  EXPECT_FALSE(fs::exists(dir.path() / "samples_epoch_001.png"));
}

}  // namespace
}  // namespace kiln::train
