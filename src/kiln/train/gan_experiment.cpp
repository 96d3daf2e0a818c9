#include "kiln/train/gan_experiment.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "kiln/autograd/node.h"
#include "kiln/io/safetensors.h"
#include "kiln/nn/activation.h"
#include "kiln/nn/batch_norm.h"
#include "kiln/nn/conv.h"
#include "kiln/nn/init.h"
#include "kiln/nn/linear.h"
#include "kiln/ops/ops.h"
#include "kiln/plot/plot.h"
#include "kiln/train/callbacks.h"
#include "kiln/train/data_loader.h"
#include "kiln/train/generative_run.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/model_builder.h"
#include "kiln/train/progress.h"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kImageSide = 28;
constexpr std::int64_t kSeedSide = 7;  // the generator's first feature map: two ×2 upsamplings reach 28

/// Nearest-neighbour ×2 upsampling of [N, C, H, W], composed from views: each
/// pixel is broadcast over a 2×2 block, so the backward pass (sum over the
/// block) comes from expand's.
class Upsample2x : public nn::Layer {
 public:
  Tensor forward(const Tensor& x) override {
    if (x.dim() != 4) throw Error("Upsample2x: expected [N, C, H, W], got " + x.str());
    const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    return x.reshape({n, c, h, 1, w, 1}).expand({n, c, h, 2, w, 2}).reshape({n, c, 2 * h, 2 * w});
  }
  std::string name() const override { return "Upsample2x()"; }
};

std::shared_ptr<nn::Sequential> make_generator(const GanOptions& o, Generator& gen) {
  const std::int64_t c = o.generator_channels;
  const std::int64_t seed_features = 2 * c * kSeedSide * kSeedSide;
  auto g = std::make_shared<nn::Sequential>();
  // Biases before a BatchNorm would be cancelled by its mean subtraction.
  g->push_back(std::make_shared<nn::Linear>(o.noise_dim, seed_features, false, gen));
  g->push_back(std::make_shared<nn::BatchNorm1d>(seed_features));
  g->push_back(std::make_shared<nn::ReLU>());
  g->push_back(std::make_shared<nn::Reshape>(Shape{2 * c, kSeedSide, kSeedSide}));
  g->push_back(std::make_shared<Upsample2x>());
  g->push_back(std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions{.in_channels = 2 * c, .out_channels = c, .kernel_size = 3, .padding = 1, .bias = false}, gen));
  g->push_back(std::make_shared<nn::BatchNorm2d>(c));
  g->push_back(std::make_shared<nn::ReLU>());
  g->push_back(std::make_shared<Upsample2x>());
  g->push_back(std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions{.in_channels = c, .out_channels = 1, .kernel_size = 5, .padding = 2}, gen));
  g->push_back(std::make_shared<nn::Tanh>());
  return g;
}

std::shared_ptr<nn::Sequential> make_discriminator(const GanOptions& o, Generator& gen) {
  const std::int64_t d = o.discriminator_channels;
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions{.in_channels = 1, .out_channels = d, .kernel_size = 4, .stride = 2, .padding = 1}, gen));
  m->push_back(std::make_shared<nn::LeakyReLU>(0.2));
  m->push_back(std::make_shared<nn::Conv2d>(
      nn::Conv2dOptions{
          .in_channels = d, .out_channels = 2 * d, .kernel_size = 4, .stride = 2, .padding = 1, .bias = false},
      gen));
  m->push_back(std::make_shared<nn::BatchNorm2d>(2 * d));
  m->push_back(std::make_shared<nn::LeakyReLU>(0.2));
  m->push_back(std::make_shared<nn::Flatten>());
  m->push_back(std::make_shared<nn::Linear>(2 * d * kSeedSide * kSeedSide, 1, true, gen));
  return m;
}

/// The DCGAN paper's initialisation: weights N(0, 0.02²), BatchNorm scales N(1, 0.02²), biases 0.
void dcgan_init(nn::Module& m, Generator& gen) {
  for (auto& [name, p] : m.named_parameters()) {
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (is_bias) {
      nn::init::zeros_(p);
    } else if (p.dim() == 1) {
      nn::init::normal_(p, 1.0, 0.02, gen);  // a BatchNorm scale
    } else {
      nn::init::normal_(p, 0.0, 0.02, gen);
    }
  }
}

GanOptions read_model(const std::optional<config::Node>& m) {
  GanOptions o;
  if (!m) return o;
  m->allow_only({"noise_dim", "generator_channels", "discriminator_channels"});
  o.noise_dim = m->get_int("noise_dim", o.noise_dim);
  o.generator_channels = m->get_int("generator_channels", o.generator_channels);
  o.discriminator_channels = m->get_int("discriminator_channels", o.discriminator_channels);
  for (const char* key : {"noise_dim", "generator_channels", "discriminator_channels"}) {
    if (m->has(key) && m->at(key).as_int() < 1) m->at(key).fail("must be >= 1");
  }
  return o;
}

/// Rebuilds the classifier's input from images [N, 1, 28, 28] in [0, 1].
Tensor classifier_input(const QualityClassifier& c, const Tensor& images) {
  const std::int64_t n = images.size(0);
  Tensor x;
  switch (c.layout) {
    case ImageLayout::flat:
      x = images.reshape({n, kImageSide * kImageSide});
      break;
    case ImageLayout::image:
      x = images;
      break;
    case ImageLayout::rows:
      x = images.reshape({n, kImageSide, kImageSide});
      break;
  }
  return c.normalization ? normalize_images(x.contiguous(), *c.normalization) : x.contiguous();
}

std::string epoch_file(std::int64_t epoch) {
  char name[48];
  std::snprintf(name, sizeof name, "samples_epoch_%03lld.png", static_cast<long long>(epoch));
  return name;
}

void plot_losses(const std::vector<double>& d_loss, const std::vector<double>& g_loss, const std::string& name,
                 const fs::path& path) {
  std::vector<double> epochs;
  for (std::size_t e = 0; e < d_loss.size(); ++e) epochs.push_back(static_cast<double>(e + 1));
  plot::line_chart(
      path, {.title = name + ": mean loss per epoch", .x_label = "epoch", .y_label = "BCE with logits"},
      {{.name = "discriminator", .x = epochs, .y = d_loss}, {.name = "generator", .x = epochs, .y = g_loss}});
}

struct EpochMeans {
  double d_loss = 0.0, g_loss = 0.0;
  double d_real = 0.0;  ///< mean D(x) (probability) on real images
  double d_fake = 0.0;  ///< mean D(G(z)) before the generator's step
};

}  // namespace

Gan::Gan(const GanOptions& options, Generator& gen) : options_(options) {
  if (options_.noise_dim < 1 || options_.generator_channels < 1 || options_.discriminator_channels < 1) {
    throw Error("Gan: sizes must be >= 1; got noise_dim=" + std::to_string(options_.noise_dim) +
                ", generator_channels=" + std::to_string(options_.generator_channels) +
                ", discriminator_channels=" + std::to_string(options_.discriminator_channels));
  }
  generator_ = register_module("generator", make_generator(options_, gen));
  discriminator_ = register_module("discriminator", make_discriminator(options_, gen));
  dcgan_init(*this, gen);
}

Tensor Gan::sample_from(const Tensor& z) {
  const bool was_training = generator_->is_training();
  const NoGradGuard no_grad;
  generator_->eval();
  const Tensor images = ((*generator_)(z) + 1.0) * 0.5;
  generator_->train(was_training);
  return images;
}

Tensor Gan::sample(std::int64_t n, Generator& noise, std::int64_t batch_size) {
  if (n < 1) throw Error("Gan::sample: asked for " + std::to_string(n) + " images");
  std::vector<Tensor> parts;
  for (std::int64_t done = 0; done < n; done += batch_size) {
    parts.push_back(sample_from(randn({std::min(batch_size, n - done), options_.noise_dim}, noise)));
  }
  return parts.size() == 1 ? parts.front() : concat(parts, 0);
}

std::string Gan::name() const {
  return "Gan(noise=" + std::to_string(options_.noise_dim) +
         ", generator_channels=" + std::to_string(options_.generator_channels) +
         ", discriminator_channels=" + std::to_string(options_.discriminator_channels) + ")";
}

QualityClassifier load_quality_classifier(const fs::path& run_dir, const fs::path& data_dir) {
  const std::string where = "quality classifier '" + run_dir.string() + "'";
  fs::path config_path = run_dir / "config.toml";
  std::error_code ec;
  if (!fs::is_regular_file(config_path, ec)) config_path = run_dir / "config.json";
  if (!fs::is_regular_file(config_path, ec)) {
    throw Error(where +
                ": no config.toml or config.json there (train the classifier first, e.g. "
                "kiln train examples/fashion_cnn.toml, or drop quality_classifier from the config)");
  }
  const config::Document doc = config::Document::load(config_path);
  const config::Node root = doc.root();
  if (const std::string task = root.get_string("task", "classify"); task != "classify") {
    throw Error(where + ": its config is a '" + task + "' task, not a classifier");
  }
  const config::Node data = root.at("data");
  if (data.at("dataset").as_string() != "fashion-mnist") {
    data.at("dataset").fail("the quality classifier must be a fashion-mnist classifier");
  }
  QualityClassifier c;
  c.layout = image_layout_from_name(data.get_string("layout", "flat"));
  const Shape sample_shape = c.layout == ImageLayout::flat    ? Shape{kImageSide * kImageSide}
                             : c.layout == ImageLayout::image ? Shape{1, kImageSide, kImageSide}
                                                              : Shape{kImageSide, kImageSide};
  Generator unused_init(0);  // the weights are replaced by the trained ones below
  c.model = build_sequential(root.at("model").at("layers"), sample_shape, DType::f32, unused_init);

  const fs::path weights = run_dir / "model.safetensors";
  if (!fs::is_regular_file(weights, ec)) {
    throw Error(where + ": no model.safetensors there (the classifier's training did not finish)");
  }
  const io::SafetensorsFile file = io::SafetensorsFile::open(weights);
  nn::StateDict state;
  for (const auto& e : file.entries()) state.add(e.name, file.tensor(e.name));
  try {
    c.model->load_state_dict(state);
  } catch (const Error& e) {
    throw Error(where + ": '" + weights.string() + "' does not fit the model of its config: " + e.what());
  }
  c.model->eval();
  if (data.get_bool("normalize", false)) {
    c.normalization = image_statistics(load_fashion_mnist_data(data_dir, c.layout, data.get_int("limit", 0)).train_x);
  }
  return c;
}

SampleQuality score_samples(QualityClassifier& classifier, const Tensor& images, std::int64_t batch_size) {
  if (images.dim() != 4 || images.size(0) < 1 || images.size(1) != 1 || images.size(2) != kImageSide ||
      images.size(3) != kImageSide) {
    throw Error("score_samples: expected images [N >= 1, 1, 28, 28], got " + images.str());
  }
  const NoGradGuard no_grad;
  classifier.model->eval();
  std::vector<double> max_probs;
  std::vector<std::int64_t> classes;
  std::int64_t num_classes = 0;
  for (std::int64_t start = 0; start < images.size(0); start += batch_size) {
    const Tensor x = images.slice(0, start, std::min(start + batch_size, images.size(0)));
    const Tensor probs = softmax((*classifier.model)(classifier_input(classifier, x)), -1);
    if (probs.dim() != 2) throw Error("score_samples: the classifier gives " + probs.str() + ", not [batch, classes]");
    num_classes = probs.size(1);
    const std::vector<double> m = max(probs, {1}).to_vector<double>();
    const std::vector<std::int64_t> k = argmax(probs, 1).to_vector<std::int64_t>();
    max_probs.insert(max_probs.end(), m.begin(), m.end());
    classes.insert(classes.end(), k.begin(), k.end());
  }
  SampleQuality q;
  const auto n = static_cast<double>(max_probs.size());
  for (const double p : max_probs) q.mean_confidence += p / n;
  q.class_counts.assign(static_cast<std::size_t>(num_classes), 0);
  for (const std::int64_t k : classes) ++q.class_counts[static_cast<std::size_t>(k)];
  for (const std::int64_t count : q.class_counts) {
    if (count > 0) {
      const double p = static_cast<double>(count) / n;
      q.class_entropy -= p * std::log(p);
    }
  }
  return q;
}

RunResult run_gan_experiment(const config::Document& config, const RunOverrides& overrides) {
  const config::Node root = config.root();
  const GenerativeRun run = read_generative_run(
      root, overrides,
      {.task = "gan", .top_level = {"model", "quality_classifier"}, .fit = {"real_label"}, .default_batch_size = 128});
  const GanOptions options = read_model(root.find("model"));
  const std::optional<config::Node> fit = root.find("fit");
  const double real_label = fit ? fit->get_double("real_label", 1.0) : 1.0;
  if (!(real_label > 0.5 && real_label <= 1.0)) fit->at("real_label").fail("must be in (0.5, 1]");
  std::ostream& out = std::cout;

  // Load the classifier first: a wrong path should fail before the training, not after it.
  std::optional<QualityClassifier> classifier;
  const std::string skipped_why = "the config names no quality_classifier (a fashion-mnist classifier's run dir)";
  if (const auto q = root.find("quality_classifier")) {
    classifier = load_quality_classifier(q->as_string(), run.data_dir);
  }

  Generator init_gen(run.seed);
  Generator noise(run.seed + 1);
  Generator fixed_noise_gen(run.seed + 3);
  const Tensor fixed_noise = randn({64, options.noise_dim}, fixed_noise_gen);
  auto gan = std::make_shared<Gan>(options, init_gen);
  nn::Sequential& generator = gan->generator();
  nn::Sequential& discriminator = gan->discriminator();
  const OptimizerDefaults adam{.name = "adam", .lr = 2e-4, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8};
  const auto g_opt = make_generative_optimizer(root.find("optimizer"), generator.parameters(), adam);
  const auto d_opt = make_generative_optimizer(root.find("optimizer"), discriminator.parameters(), adam);
  // The data last: every config error above shows without waiting for it.
  const LabeledData data = load_fashion_mnist_data(run.data_dir, ImageLayout::image, run.limit);
  // The generator's tanh spans [-1, 1]; real images are scaled to match.
  const Tensor real_images = data.train_x * 2.0 - 1.0;
  DataLoader loader(real_images, data.train_y,
                    {.batch_size = run.batch_size,
                     .shuffle = true,
                     .drop_last = real_images.size(0) > run.batch_size,
                     .seed = run.seed});

  out << "data: " << real_images.size(0) << " training images " << real_images.str() << " scaled to [-1, 1]\n"
      << "model: " << gan->name() << ": generator " << generator.num_parameters() << " parameters, discriminator "
      << discriminator.num_parameters() << "\noptimizer: " << g_opt->name() << " lr " << g_opt->lr()
      << " for each network, batch " << run.batch_size << ", " << run.epochs << " epochs, real label " << real_label
      << "\n"
      << std::flush;

  ProgressReporter progress(out, {.epochs = run.epochs,
                                  .steps_per_epoch = loader.num_batches(),
                                  .interactive = isatty(STDOUT_FILENO) == 1,
                                  .log_every = run.log_every});
  CSVLogger log((run.output_dir / "log.csv").string());
  TrainContext ctx{.model = *gan,
                   .optimizer = *g_opt,
                   .epochs = run.epochs,
                   .steps_per_epoch = loader.num_batches(),
                   .stop_training = false,
                   .save_checkpoint = {}};
  log.on_train_begin(ctx);

  clear_interrupt();
  const InterruptGuard interrupts;  // Ctrl-C stops after the current step; the outputs so far are still written
  RunResult result;
  result.output_dir = run.output_dir;
  std::vector<double> d_curve, g_curve;
  EpochMeans last{};
  for (std::int64_t epoch = 0; epoch < run.epochs && !result.interrupted; ++epoch) {
    progress.start_epoch(epoch + 1);
    loader.start_epoch(epoch);
    EpochMeans sum{};
    std::int64_t steps = 0;
    for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
      const Tensor real = loader.batch(b).inputs;
      const std::int64_t n = real.size(0);
      const Tensor fake = generator(randn({n, options.noise_dim}, noise));

      // Discriminator: real → real_label, generated → 0. The generated batch is
      // detached so this step leaves the generator's gradients alone.
      const Tensor real_logits = discriminator(real);
      const Tensor fake_logits = discriminator(fake.detach());
      const Tensor d_loss = binary_cross_entropy_with_logits(real_logits, Tensor::full({n, 1}, real_label)) +
                            binary_cross_entropy_with_logits(fake_logits, Tensor::zeros({n, 1}));
      d_opt->zero_grad();
      d_loss.backward();
      d_opt->step();

      // Generator: make the (just updated) discriminator answer "real" on its samples.
      const Tensor g_loss = binary_cross_entropy_with_logits(discriminator(fake), Tensor::ones({n, 1}));
      g_opt->zero_grad();
      g_loss.backward();
      g_opt->step();

      sum.d_loss += d_loss.item();
      sum.g_loss += g_loss.item();
      sum.d_real += mean(sigmoid(real_logits.detach())).item();
      sum.d_fake += mean(sigmoid(fake_logits.detach())).item();
      ++steps;
      const auto done = static_cast<double>(steps);
      progress.update(b + 1, {{"d_loss", sum.d_loss / done}, {"g_loss", sum.g_loss / done}}, n);  // epoch means so far
      if (interrupt_requested()) {
        progress.abort_line();
        result.interrupted = true;
        break;
      }
    }
    const EpochStats stats = progress.end_epoch();
    if (result.interrupted) break;
    const auto s = static_cast<double>(steps);
    last = {.d_loss = sum.d_loss / s, .g_loss = sum.g_loss / s, .d_real = sum.d_real / s, .d_fake = sum.d_fake / s};
    d_curve.push_back(last.d_loss);
    g_curve.push_back(last.g_loss);
    log.on_epoch_end(
        ctx, epoch,
        {{"d_loss", last.d_loss}, {"g_loss", last.g_loss}, {"d_real", last.d_real}, {"d_fake", last.d_fake}});
    plot_losses(d_curve, g_curve, run.name, run.output_dir / "curves.png");
    plot::image_grid(
        run.output_dir / epoch_file(epoch + 1),
        {.rows = 8, .cols = 8, .scale = 3, .title = run.name + ": samples after epoch " + std::to_string(epoch + 1)},
        gan->sample_from(fixed_noise));
    char line[200];
    std::snprintf(line, sizeof line, "epoch %lld/%lld: d_loss %.4f  g_loss %.4f  D(x) %.3f  D(G(z)) %.3f  %s",
                  static_cast<long long>(epoch + 1), static_cast<long long>(run.epochs), last.d_loss, last.g_loss,
                  last.d_real, last.d_fake, ProgressReporter::format_duration(stats.seconds).c_str());
    out << line << std::endl;
  }

  io::save_safetensors(run.output_dir / "model.safetensors", gan->state_dict().entries(),
                       {{"kiln.model", gan->name()}});
  if (d_curve.empty()) {
    out << "interrupted before the first epoch ended: model.safetensors holds the weights so far" << std::endl;
    return result;
  }
  result.test = {{"d_loss", last.d_loss}, {"g_loss", last.g_loss}};
  if (classifier) {
    constexpr std::int64_t kScored = 1000;
    Generator score_noise(run.seed + 4);
    const SampleQuality q = score_samples(*classifier, gan->sample(kScored, score_noise));
    result.test["mean_confidence"] = q.mean_confidence;
    result.test["class_entropy"] = q.class_entropy;
    char line[160];
    std::snprintf(line, sizeof line,
                  "sample quality (%lld samples): mean max-softmax confidence %.4f, class entropy %.4f nats (log 10 = "
                  "2.3026 is balanced)",
                  static_cast<long long>(kScored), q.mean_confidence, q.class_entropy);
    out << line << "\nclass counts:";
    for (std::size_t k = 0; k < q.class_counts.size(); ++k) {
      result.test["count_" + std::to_string(k)] = static_cast<double>(q.class_counts[k]);
      out << "  " << (k < data.class_names.size() ? data.class_names[k] : std::to_string(k)) << " "
          << q.class_counts[k];
    }
    // The same figures for real test images say what this classifier gives at best.
    const std::int64_t n_real = std::min(kScored, data.test_x.size(0));
    const SampleQuality real = score_samples(*classifier, data.test_x.slice(0, 0, n_real));
    result.test["real_mean_confidence"] = real.mean_confidence;
    result.test["real_class_entropy"] = real.class_entropy;
    std::snprintf(line, sizeof line, "for reference, %lld real test images: confidence %.4f, class entropy %.4f nats",
                  static_cast<long long>(n_real), real.mean_confidence, real.class_entropy);
    out << "\n" << line << std::endl;
  } else {
    out << "sample quality skipped: " << skipped_why << std::endl;
  }
  out << "outputs in " << run.output_dir.string() << ": model.safetensors, log.csv, curves.png, samples_epoch_*.png"
      << std::endl;
  return result;
}

}  // namespace kiln::train
