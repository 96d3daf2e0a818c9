#pragma once
// What the generative experiments (vae_experiment.h, gan_experiment.h) share
// with each other and with classification configs: the top-level keys (name,
// task, seed, threads, output_dir), the [data] table for Fashion-MNIST, the
// [fit] basics, the [optimizer] table with torch's option names, and the
// per-epoch outputs (log.csv through the Trainer's CSVLogger, so every run dir
// looks alike).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/config/config.h"
#include "kiln/core/tensor.h"
#include "kiln/optim/optimizer.h"
#include "kiln/train/experiment.h"

namespace kiln::train {

/// The task's own keys, on top of the shared ones.
struct GenerativeConfigKeys {
  const char* task = "";                 ///< "vae" or "gan", for messages
  std::vector<std::string> top_level{};  ///< e.g. "model", "plots", "quality_classifier"
  std::vector<std::string> fit{};        ///< beyond epochs, batch_size, log_every
  std::int64_t default_batch_size = 128;
};

/// A generative run's settings: the config's values with the command line's overrides applied.
struct GenerativeRun {
  std::string name;                  ///< the config's name (titles), default the task
  std::filesystem::path output_dir;  ///< created by read_generative_run
  std::filesystem::path data_dir;    ///< Fashion-MNIST's four .gz files
  std::int64_t limit = 0;            ///< > 0: the first `limit` training images (tests)
  std::int64_t epochs = 1;
  std::int64_t batch_size = 128;
  std::int64_t log_every = 100;  ///< plain progress line every N steps
  std::uint64_t seed = 0;
};

/// Checks the config's keys (the shared ones plus `keys`), applies `overrides`
/// (epochs, limit, output_dir, data_path, seed, log_every), sets the thread
/// count when the config names one, creates the output directory and copies
/// the config file into it (config.toml / config.json) so the run can be
/// rebuilt. A resume request is an error: these tasks train in one go.
/// [data] must say dataset = "fashion-mnist"; it takes path and limit.
GenerativeRun read_generative_run(const config::Node& root, const RunOverrides& overrides,
                                  const GenerativeConfigKeys& keys);

/// The [optimizer] table's defaults for a task (the table may be absent).
struct OptimizerDefaults {
  std::string name{};  ///< "rmsprop" or "adam"
  double lr = 1e-3;
  double alpha = 0.99;  ///< RMSprop's decay (Keras' rho)
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

/// RMSprop or Adam over `params` from `table` (torch's option names: lr,
/// alpha, eps, momentum, centered, weight_decay; lr, beta1, beta2, eps,
/// weight_decay, amsgrad), each missing key taking `defaults`. `table` may be
/// null (all defaults). Errors name the config path and the known keys.
std::unique_ptr<optim::Optimizer> make_generative_optimizer(const std::optional<config::Node>& table,
                                                            std::vector<Tensor> params,
                                                            const OptimizerDefaults& defaults);

}  // namespace kiln::train
