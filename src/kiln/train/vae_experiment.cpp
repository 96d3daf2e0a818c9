#include "kiln/train/vae_experiment.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "kiln/autograd/node.h"
#include "kiln/io/safetensors.h"
#include "kiln/nn/activation.h"
#include "kiln/ops/losses.h"
#include "kiln/ops/ops.h"
#include "kiln/plot/plot.h"
#include "kiln/train/callbacks.h"
#include "kiln/train/data_loader.h"
#include "kiln/train/datasets.h"
#include "kiln/train/generative_run.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/progress.h"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kImageSide = 28;  // Fashion-MNIST: the experiment's input_dim is 28 x 28

std::string list_text(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

/// Linear+ReLU for each hidden size, then (when `out` > 0) a last Linear without activation.
std::shared_ptr<nn::Sequential> mlp(std::int64_t in, const std::vector<std::int64_t>& hidden, std::int64_t out,
                                    Generator& gen) {
  auto seq = std::make_shared<nn::Sequential>();
  for (const std::int64_t units : hidden) {
    seq->push_back(std::make_shared<nn::Linear>(in, units, true, gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    in = units;
  }
  if (out > 0) seq->push_back(std::make_shared<nn::Linear>(in, out, true, gen));
  return seq;
}

void check_sizes(const VaeOptions& o) {
  const auto positive = [](const std::vector<std::int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [](std::int64_t u) { return u > 0; });
  };
  if (o.input_dim < 1 || o.latent_dim < 1 || o.encoder_units.empty() || !positive(o.encoder_units) ||
      !positive(o.decoder_units)) {
    throw Error("Vae: sizes must be positive and the encoder needs at least one hidden layer; got input_dim=" +
                std::to_string(o.input_dim) + ", encoder_units=" + list_text(o.encoder_units) +
                ", latent_dim=" + std::to_string(o.latent_dim) + ", decoder_units=" + list_text(o.decoder_units));
  }
}

/// The latent codes of a grid over dims 0 and 1, Keras' plot order: rows from
/// +span (top) to -span, columns from -span to +span; other dims stay 0.
Tensor latent_grid(std::int64_t n, double span, std::int64_t latent_dim) {
  std::vector<float> z(static_cast<std::size_t>(n * n * latent_dim), 0.0F);
  const auto at = [&](std::int64_t i) {
    return n == 1 ? 0.0 : -span + 2.0 * span * static_cast<double>(i) / static_cast<double>(n - 1);
  };
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t c = 0; c < n; ++c) {
      const auto row = static_cast<std::size_t>((r * n + c) * latent_dim);
      z[row] = static_cast<float>(at(c));
      z[row + 1] = static_cast<float>(at(n - 1 - r));
    }
  }
  return Tensor::from_vector(z, {n * n, latent_dim});
}

struct PlotSettings {
  std::int64_t grid_size = 15;
  double grid_span = 2.0;
};

/// latent.png: the test images' latent means, coloured by class.
void plot_latent(Vae& model, const LabeledData& data, const fs::path& path) {
  std::vector<double> xs, ys;
  {
    const NoGradGuard no_grad;
    model.eval();
    const Tensor mean = model.encode(data.test_x).first;
    xs = mean.slice(1, 0, 1).reshape({-1}).to_vector<double>();
    ys = mean.slice(1, 1, 2).reshape({-1}).to_vector<double>();
    model.train();
  }
  std::vector<int> labels;
  for (const std::int64_t y : data.test_y.to_vector<std::int64_t>()) labels.push_back(static_cast<int>(y));
  plot::scatter(path,
                {.title = "VAE latent means of " + std::to_string(xs.size()) + " test images",
                 .x_label = "z[0]",
                 .y_label = "z[1]"},
                xs, ys, labels, data.class_names);
}

/// grid.png: sigmoid(decoder(z)) over a square grid of latent values.
void plot_grid(Vae& model, const PlotSettings& p, const fs::path& path) {
  Tensor images;
  {
    const NoGradGuard no_grad;
    model.eval();
    const Tensor z = latent_grid(p.grid_size, p.grid_span, model.options().latent_dim);
    images = sigmoid(model.decode(z));
    model.train();
  }
  char title[128];
  std::snprintf(title, sizeof title, "Decoded from a %lldx%lld grid of z in [-%g, %g]^2",
                static_cast<long long>(p.grid_size), static_cast<long long>(p.grid_size), p.grid_span, p.grid_span);
  const int n = static_cast<int>(p.grid_size);
  plot::image_grid(path, {.rows = n, .cols = n, .scale = 2, .title = title},
                   images.reshape({p.grid_size * p.grid_size, 1, kImageSide, kImageSide}));
}

void plot_curves(const std::vector<double>& train, const std::vector<double>& test, const std::string& name,
                 const fs::path& path) {
  std::vector<double> epochs;
  for (std::size_t e = 0; e < train.size(); ++e) epochs.push_back(static_cast<double>(e + 1));
  plot::line_chart(path, {.title = name + ": loss (negative ELBO)", .x_label = "epoch", .y_label = "nats per image"},
                   {{.name = "train", .x = epochs, .y = train}, {.name = "test", .x = epochs, .y = test}});
}

VaeOptions read_model(const std::optional<config::Node>& m) {
  VaeOptions o;
  if (!m) return o;
  m->allow_only({"encoder_units", "latent_dim", "decoder_units"});
  if (m->has("encoder_units")) o.encoder_units = m->at("encoder_units").as_int_list();
  if (m->has("decoder_units")) o.decoder_units = m->at("decoder_units").as_int_list();
  o.latent_dim = m->get_int("latent_dim", o.latent_dim);
  try {
    check_sizes(o);
  } catch (const Error& e) {
    m->fail(e.what());
  }
  return o;
}

PlotSettings read_plots(const std::optional<config::Node>& p) {
  PlotSettings s;
  if (!p) return s;
  p->allow_only({"grid_size", "grid_span"});
  s.grid_size = p->get_int("grid_size", s.grid_size);
  s.grid_span = p->get_double("grid_span", s.grid_span);
  if (s.grid_size < 1 || s.grid_size > 64) p->at("grid_size").fail("must be in 1..64");
  if (!(s.grid_span > 0.0)) p->at("grid_span").fail("must be positive");
  return s;
}

std::string format_figures(double loss, double bce, double kl) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.2f (bce %.2f, kl %.2f)", loss, bce, kl);
  return buf;
}

}  // namespace

Vae::Vae(const VaeOptions& options, Generator& gen) : options_(options) {
  check_sizes(options_);
  encoder_ = register_module("encoder", mlp(options_.input_dim, options_.encoder_units, 0, gen));
  const std::int64_t hidden = options_.encoder_units.back();
  z_mean_ = register_module("z_mean", std::make_shared<nn::Linear>(hidden, options_.latent_dim, true, gen));
  z_log_var_ = register_module("z_log_var", std::make_shared<nn::Linear>(hidden, options_.latent_dim, true, gen));
  decoder_ = register_module("decoder", mlp(options_.latent_dim, options_.decoder_units, options_.input_dim, gen));
}

std::pair<Tensor, Tensor> Vae::encode(const Tensor& x) {
  if (x.dim() != 2 || x.size(1) != options_.input_dim) {
    throw Error("Vae: expected input [batch, " + std::to_string(options_.input_dim) + "], got " + x.str());
  }
  const Tensor h = (*encoder_)(x);
  return {(*z_mean_)(h), (*z_log_var_)(h)};
}

Tensor Vae::decode(const Tensor& z) {
  if (z.dim() != 2 || z.size(1) != options_.latent_dim) {
    throw Error("Vae::decode: expected latent codes [batch, " + std::to_string(options_.latent_dim) + "], got " +
                z.str());
  }
  return (*decoder_)(z);
}

VaeOutput Vae::forward(const Tensor& x, Generator& noise) {
  auto [mean, log_var] = encode(x);
  // Reparameterisation: the sample is a differentiable function of μ and log σ².
  const Tensor eps = randn(mean.shape(), noise, mean.dtype(), mean.device());
  const Tensor z = mean + exp(log_var * 0.5) * eps;
  VaeOutput out{.logits = decode(z), .mean = std::move(mean), .log_var = std::move(log_var)};
  record_call({out.logits.shape(), out.mean.shape(), out.log_var.shape()});
  return out;
}

std::string Vae::name() const {
  return "Vae(input=" + std::to_string(options_.input_dim) + ", encoder=" + list_text(options_.encoder_units) +
         ", latent=" + std::to_string(options_.latent_dim) + ", decoder=" + list_text(options_.decoder_units) + ")";
}

VaeLoss vae_loss(const VaeOutput& out, const Tensor& x) {
  const auto batch = static_cast<double>(x.size(0));
  VaeLoss l;
  l.bce = binary_cross_entropy_with_logits(out.logits, x, Reduction::sum) / batch;
  l.kl = kl_normal_standard(out.mean, out.log_var, Reduction::mean);
  l.total = l.bce + l.kl;
  return l;
}

VaeScores evaluate_vae(Vae& model, const Tensor& x, Generator& noise, std::int64_t batch_size) {
  if (x.size(0) == 0) throw Error("evaluate_vae: no images to evaluate");
  const bool was_training = model.is_training();
  const NoGradGuard no_grad;
  model.eval();
  double bce = 0.0, kl = 0.0;
  for (std::int64_t start = 0; start < x.size(0); start += batch_size) {
    const Tensor xb = x.slice(0, start, std::min(start + batch_size, x.size(0)));
    const VaeLoss l = vae_loss(model.forward(xb, noise), xb);
    const auto n = static_cast<double>(xb.size(0));
    bce += l.bce.item() * n;
    kl += l.kl.item() * n;
  }
  model.train(was_training);
  const auto n = static_cast<double>(x.size(0));
  return {.elbo = -(bce + kl) / n, .bce = bce / n, .kl = kl / n};
}

RunResult run_vae_experiment(const config::Document& config, const RunOverrides& overrides) {
  const config::Node root = config.root();
  const GenerativeRun run =
      read_generative_run(root, overrides, {.task = "vae", .top_level = {"model", "plots"}, .default_batch_size = 128});
  const VaeOptions options = read_model(root.find("model"));
  const PlotSettings plots = read_plots(root.find("plots"));
  std::ostream& out = std::cout;

  // Separate streams: initial weights, training noise ε, data order, and the
  // evaluation's ε (fixed, so test figures of different epochs are comparable).
  Generator init_gen(run.seed);
  Generator noise(run.seed + 1);
  auto model = std::make_shared<Vae>(options, init_gen);
  // Keras' RMSprop defaults (rho = 0.9, epsilon = 1e-7) in torch's names.
  const auto optimizer = make_generative_optimizer(root.find("optimizer"), model->parameters(),
                                                   {.name = "rmsprop", .lr = 1e-3, .alpha = 0.9, .eps = 1e-7});
  // The data last: every config error above shows without waiting for it.
  const LabeledData data = load_fashion_mnist_data(run.data_dir, ImageLayout::flat, run.limit);
  DataLoader loader(data.train_x, data.train_y, {.batch_size = run.batch_size, .shuffle = true, .seed = run.seed});

  out << "data: " << data.train_x.size(0) << " training and " << data.test_x.size(0) << " test images "
      << data.train_x.str() << "\nmodel: " << model->name() << ", " << model->num_parameters()
      << " parameters\noptimizer: " << optimizer->name() << " lr " << optimizer->lr() << ", batch " << run.batch_size
      << ", " << run.epochs << " epochs\n"
      << std::flush;

  ProgressReporter progress(out, {.epochs = run.epochs,
                                  .steps_per_epoch = loader.num_batches(),
                                  .interactive = isatty(STDOUT_FILENO) == 1,
                                  .log_every = run.log_every});
  CSVLogger log((run.output_dir / "log.csv").string());
  TrainContext ctx{.model = *model,
                   .optimizer = *optimizer,
                   .epochs = run.epochs,
                   .steps_per_epoch = loader.num_batches(),
                   .stop_training = false,
                   .save_checkpoint = {}};
  log.on_train_begin(ctx);

  clear_interrupt();
  const InterruptGuard interrupts;  // Ctrl-C stops after the current step; the outputs so far are still written
  RunResult result;
  result.output_dir = run.output_dir;
  std::vector<double> train_curve, test_curve;
  VaeScores test{};
  double train_seconds = 0.0;
  for (std::int64_t epoch = 0; epoch < run.epochs && !result.interrupted; ++epoch) {
    progress.start_epoch(epoch + 1);
    loader.start_epoch(epoch);
    double bce_sum = 0.0, kl_sum = 0.0;
    std::int64_t seen = 0;
    for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
      const Batch batch = loader.batch(b);
      const VaeLoss l = vae_loss(model->forward(batch.inputs, noise), batch.inputs);
      optimizer->zero_grad();
      l.total.backward();
      optimizer->step();
      const std::int64_t n = batch.inputs.size(0);
      bce_sum += l.bce.item() * static_cast<double>(n);
      kl_sum += l.kl.item() * static_cast<double>(n);
      seen += n;
      progress.update(b + 1, l.total.item(), n);
      if (interrupt_requested()) {
        progress.abort_line();
        result.interrupted = true;
        break;
      }
    }
    const EpochStats stats = progress.end_epoch();
    if (result.interrupted) break;
    train_seconds += stats.seconds;
    Generator eval_noise(run.seed + 2);
    test = evaluate_vae(*model, data.test_x, eval_noise);
    const double train_bce = bce_sum / static_cast<double>(seen), train_kl = kl_sum / static_cast<double>(seen);
    train_curve.push_back(train_bce + train_kl);
    test_curve.push_back(-test.elbo);
    log.on_epoch_end(ctx, epoch,
                     {{"loss", train_bce + train_kl},
                      {"bce", train_bce},
                      {"kl", train_kl},
                      {"test_loss", -test.elbo},
                      {"test_bce", test.bce},
                      {"test_kl", test.kl}});
    plot_curves(train_curve, test_curve, run.name, run.output_dir / "curves.png");
    out << "epoch " << epoch + 1 << "/" << run.epochs << ": train "
        << format_figures(train_bce + train_kl, train_bce, train_kl) << "  test "
        << format_figures(-test.elbo, test.bce, test.kl) << "  " << ProgressReporter::format_duration(stats.seconds)
        << std::endl;
  }

  io::save_safetensors(run.output_dir / "model.safetensors", model->state_dict().entries(),
                       {{"kiln.model", model->name()}});
  if (train_curve.empty()) {
    out << "interrupted before the first epoch ended: model.safetensors holds the weights so far, no figures"
        << std::endl;
    return result;
  }
  if (options.latent_dim >= 2) {
    plot_latent(*model, data, run.output_dir / "latent.png");
    plot_grid(*model, plots, run.output_dir / "grid.png");
  } else {
    out << "latent.png and grid.png skipped: they need a latent of at least 2 dimensions" << std::endl;
  }
  result.test = {{"elbo", test.elbo}, {"bce", test.bce}, {"kl", test.kl}};
  const auto epochs_done = static_cast<double>(train_curve.size());
  char line[160];
  std::snprintf(line, sizeof line, "training: %.2f s per epoch (mean of %zu)%s", train_seconds / epochs_done,
                train_curve.size(), result.interrupted ? ", interrupted" : "");
  out << line << "\noutputs in " << run.output_dir.string() << ": model.safetensors, log.csv, curves.png"
      << (options.latent_dim >= 2 ? ", latent.png, grid.png" : "") << "\n";
  std::snprintf(line, sizeof line, "test reconstruction (bce): %.2f, kl: %.2f nats per image", test.bce, test.kl);
  out << line << "\n";
  // The ELBO last: the figure a reader (or a script) looks for.
  std::snprintf(line, sizeof line, "test ELBO: %.2f", test.elbo);
  out << line << std::endl;
  return result;
}

}  // namespace kiln::train
