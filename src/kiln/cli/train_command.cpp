// `kiln train`: an MLP on Fashion-MNIST with the training pieces in kiln/train.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
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
#include "kiln/train/loop.h"
#include "kiln/train/models.h"
#include "kiln/train/progress.h"

namespace kiln::cli {
namespace {

struct TrainOptions {
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

void run_train(const TrainOptions& o) {
  set_num_threads(o.threads);
  check_data_dir(o.data);

  Generator init_gen(o.seed);
  const std::shared_ptr<nn::Module> model = train::make_model(o.model, init_gen);
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
  CLI::App* cmd = app.add_subcommand("train", "Train a classifier on Fashion-MNIST and report test accuracy");
  cmd->add_option("--data", opts->data, "Directory holding the four Fashion-MNIST IDX .gz files");
  cmd->add_option("--epochs", opts->epochs, "Passes over the training set")->check(kPositive);
  cmd->add_option("--batch-size", opts->batch_size, "Samples per training step")->check(kPositive);
  cmd->add_option("--lr", opts->lr, "Learning rate")->check(kPositive);
  cmd->add_option("--optimizer", opts->optimizer, "Optimizer")->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--momentum", opts->momentum, "Momentum (sgd only)")->check(kNonNegative);
  cmd->add_option("--weight-decay", opts->weight_decay, "L2 weight decay")->check(kNonNegative);
  cmd->add_option("--seed", opts->seed, "Seed for weight init and shuffling")->check(kNonNegative);
  cmd->add_option("--threads", opts->threads, "CPU threads (the default comes from KILN_NUM_THREADS, else all cores)")
      ->check(kPositive);
  cmd->add_option("--model", opts->model, "Model architecture")->check(CLI::IsMember(train::model_names()));
  cmd->add_option("--limit", opts->limit, "Use only the first N training samples (0 = all)")
      ->check(kNonNegative);
  cmd->add_option("--log-every", opts->log_every, "Progress line every N steps when stdout is not a terminal")
      ->check(kPositive);
  cmd->callback([opts] { run_train(*opts); });
}

}  // namespace kiln::cli
