// `kiln train [CONFIG]`: with a config (TOML or JSON), runs the experiment it
// describes (kiln/train/experiment.h); without one, the built-in default: an
// MLP on Fashion-MNIST set up by the flags below. `kiln eval CONFIG` reports a
// finished run's test metrics.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "kiln/cli/commands.h"
#include "kiln/cli/validators.h"
#include "kiln/core/parallel.h"
#include "kiln/io/idx.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/sgd.h"
#include "kiln/train/data_loader.h"
#include "kiln/train/evaluate.h"
#include "kiln/train/experiment.h"
#include "kiln/train/loop.h"
#include "kiln/train/models.h"
#include "kiln/train/progress.h"

namespace kiln::cli {
namespace {

struct TrainOptions {
  std::string config;  // empty: the built-in default run
  bool resume = false;
  std::string output_dir;
  std::int64_t checkpoint_every = -1;
  bool epochs_set = false, limit_set = false, seed_set = false, data_set = false;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::int64_t epochs = 10;
  std::int64_t batch_size = 128;
  double lr = 1e-3;
  std::string optimizer = "adam";
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::uint64_t seed = 0;
  int threads = 1;
  std::string model = "mlp";
  std::int64_t limit = 0;
  std::int64_t log_every = 100;
};

/// u8 pixels [N, 28, 28] -> f32 in [0, 1].
Tensor scale_pixels(const Tensor& images) { return div(images.to(DType::f32), 255.0); }

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, std::vector<Tensor> params) {
  if (o.optimizer == "adam") {
    return std::make_unique<optim::Adam>(std::move(params),
                                         optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  }
  if (o.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(
        std::move(params), optim::SGDOptions{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay});
  }
  throw Error("unknown optimizer '" + o.optimizer + "' (available: adam, sgd)");
}

void check_data_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) throw Error("data directory '" + dir + "' does not exist");
  if (!fs::is_directory(st)) throw Error("data path '" + dir + "' is not a directory");
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

train::RunOverrides overrides_of(const TrainOptions& o) {
  train::RunOverrides ov;
  if (o.epochs_set) ov.epochs = o.epochs;
  if (o.limit_set) ov.limit = o.limit;
  if (o.seed_set) ov.seed = o.seed;
  if (o.data_set) ov.data_path = o.data;
  if (!o.output_dir.empty()) ov.output_dir = o.output_dir;
  ov.resume = o.resume;
  ov.checkpoint_every_steps = o.checkpoint_every;
  return ov;
}

void run_train(const TrainOptions& o) {
  set_num_threads(o.threads);
  if (!o.config.empty()) {
    const train::RunResult r = train::run_experiment(config::Document::load(o.config), overrides_of(o));
    // 130 is the shell's code for a run ended by Ctrl-C; the checkpoint was saved.
    if (r.interrupted) std::exit(130);
    return;
  }
  if (o.resume) throw Error("--resume needs a CONFIG (the built-in default run keeps no checkpoint)");
  check_data_dir(o.data);

  Generator init_gen(o.seed);
  const std::shared_ptr<nn::Layer> model = train::make_model(o.model, init_gen);
  const std::vector<Tensor> params = model->parameters();
  std::int64_t n_params = 0;
  for (const Tensor& p : params) n_params += p.numel();
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(o, params);

  const io::LabeledImages train_set = io::load_fashion_mnist(o.data, true);
  const io::LabeledImages test_set = io::load_fashion_mnist(o.data, false);
  const std::int64_t n_train = o.limit > 0 ? std::min(o.limit, train_set.images.size(0)) : train_set.images.size(0);
  const Tensor x_train = scale_pixels(train_set.images.slice(0, 0, n_train));
  const Tensor y_train = train_set.labels.slice(0, 0, n_train);
  const Tensor x_test = scale_pixels(test_set.images);
  const Tensor y_test = test_set.labels;

  train::DataLoader loader(x_train, y_train, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed + 1});
  std::cout << "model " << o.model << ": " << model->name() << ", " << n_params << " parameters\n"
            << "data: " << loader.num_samples() << " training and " << x_test.size(0) << " test images from "
            << o.data << "\n"
            << "optimizer " << o.optimizer << " (lr " << o.lr << "), batch size " << o.batch_size << ", "
            << num_threads() << " threads, seed " << o.seed << std::endl;

  train::ProgressReporter progress(std::cout, {.epochs = o.epochs,
                                               .steps_per_epoch = loader.num_batches(),
                                               .interactive = isatty(STDOUT_FILENO) == 1,
                                               .log_every = o.log_every});
  const train::LossFn loss_fn = [](const Tensor& logits, const Tensor& target) {
    return cross_entropy(logits, target);
  };
  double accuracy = 0.0;
  for (std::int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    progress.start_epoch(epoch);
    train::train_epoch(*model, *optimizer, loader, loss_fn, &progress);
    const train::EpochStats stats = progress.end_epoch();
    accuracy = train::evaluate_accuracy(*model, x_test, y_test);
    std::cout << "epoch " << epoch << "/" << o.epochs << ": " << fixed(stats.seconds, 2) << " s ("
              << fixed(stats.samples_per_second, 0) << " samples/s), train loss " << fixed(stats.mean_loss, 4)
              << ", test accuracy " << fixed(accuracy, 4) << std::endl;
  }
  std::cout << "test accuracy: " << fixed(accuracy, 4) << std::endl;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  opts->threads = num_threads();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train the model a CONFIG (TOML or JSON, see examples/) describes; without one, an MLP on Fashion-MNIST");
  cmd->add_option("config", opts->config, "Experiment config (.toml or .json); omit for the built-in default")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--resume", opts->resume, "Continue from the run's checkpoint.safetensors (CONFIG runs)");
  cmd->add_option("--output-dir", opts->output_dir, "Where a CONFIG run writes (default: the config's output_dir)");
  cmd->add_option("--checkpoint-every", opts->checkpoint_every,
                  "Save a resumable checkpoint every N steps (CONFIG runs; default: the config's value)")
      ->check(kNonNegative);
  cmd->add_option("--data", opts->data, "Directory holding the four Fashion-MNIST IDX .gz files")
      ->each([opts](const std::string&) { opts->data_set = true; });
  cmd->add_option("--epochs", opts->epochs, "Passes over the training set")
      ->check(kPositive)
      ->each([opts](const std::string&) { opts->epochs_set = true; });
  cmd->add_option("--batch-size", opts->batch_size, "Samples per training step")->check(kPositive);
  cmd->add_option("--lr", opts->lr, "Learning rate")->check(kPositive);
  cmd->add_option("--optimizer", opts->optimizer, "Optimizer")->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--momentum", opts->momentum, "Momentum (sgd only)")->check(kNonNegative);
  cmd->add_option("--weight-decay", opts->weight_decay, "L2 weight decay")->check(kNonNegative);
  cmd->add_option("--seed", opts->seed, "Seed for weight init and shuffling")
      ->check(kNonNegative)
      ->each([opts](const std::string&) { opts->seed_set = true; });
  cmd->add_option("--threads", opts->threads, "CPU threads (the default comes from KILN_NUM_THREADS, else all cores)")
      ->check(kPositive);
  cmd->add_option("--model", opts->model, "Model architecture")->check(CLI::IsMember(train::model_names()));
  cmd->add_option("--limit", opts->limit, "Use only the first N training samples (0 = all)")
      ->check(kNonNegative)
      ->each([opts](const std::string&) { opts->limit_set = true; });
  cmd->add_option("--log-every", opts->log_every, "Progress line every N steps when stdout is not a terminal")
      ->check(kPositive);
  cmd->callback([opts] { run_train(*opts); });
}

void add_eval_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto output_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("eval", "Report the test metrics of a trained CONFIG run (its model.safetensors)");
  cmd->add_option("config", *config, "The experiment config the run was trained with")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output-dir", *output_dir, "The run directory (default: the config's output_dir)");
  cmd->callback([config, output_dir] {
    train::RunOverrides ov;
    if (!output_dir->empty()) ov.output_dir = *output_dir;
    train::evaluate_experiment(config::Document::load(*config), ov);
  });
}

void add_predict_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto output_dir = std::make_shared<std::string>();
  auto input = std::make_shared<std::string>("-");
  CLI::App* cmd = app.add_subcommand("predict", "Classify new inputs with a trained CONFIG run's model");
  cmd->add_option("config", *config, "The experiment config the run was trained with")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", *input,
                  "Images as an IDX file (Fashion-MNIST configs), or texts one per line (fortune configs; - = stdin)");
  cmd->add_option("--output-dir", *output_dir, "The run directory (default: the config's output_dir)");
  cmd->callback([config, output_dir, input] {
    train::RunOverrides ov;
    if (!output_dir->empty()) ov.output_dir = *output_dir;
    train::predict_experiment(config::Document::load(*config), ov, *input, std::cout);
  });
}

}  // namespace kiln::cli
