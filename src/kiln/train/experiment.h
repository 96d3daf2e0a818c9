#pragma once
// Experiments from config files: `kiln train CONFIG`, `kiln eval CONFIG`,
// `kiln predict CONFIG`. A config names the data, the model, the optimizer and
// schedule, the fit settings and callbacks (examples/*.toml show every kind);
// the run writes into its output directory:
//   checkpoint.safetensors  resumable state (Ctrl-C, periodic saves, --resume)
//   best.safetensors        the best epoch by the monitored metric (model_checkpoint)
//   model.safetensors       the final weights (kiln eval / predict read these)
//   log.csv, log.jsonl      one row per epoch
//   curves.png              loss and metric curves, redrawn after every epoch
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "kiln/config/config.h"

namespace kiln::train {

/// Command-line overrides of a config (for fast tests and quick tries).
struct RunOverrides {
  std::optional<std::int64_t> epochs;
  std::optional<std::int64_t> limit;       ///< data.limit: a slice of the data
  std::optional<std::string> output_dir;
  std::optional<std::string> data_path;
  std::optional<std::uint64_t> seed;
  bool resume = false;
  std::int64_t checkpoint_every_steps = -1;  ///< -1: the config's value
  std::int64_t log_every = 0;                ///< 0: the config's value
};

/// What a run reports at its end (test-set figures; the CLI prints them).
struct RunResult {
  std::map<std::string, double> test;   ///< "accuracy", "macro_f1", "loss", "elbo", ...
  bool interrupted = false;
  std::filesystem::path output_dir;
};

/// Reads the config, trains, evaluates on the test set, writes the outputs.
RunResult run_experiment(const config::Document& config, const RunOverrides& overrides);

/// Rebuilds the config's model, loads output_dir/model.safetensors and reports
/// the test-set metrics.
RunResult evaluate_experiment(const config::Document& config, const RunOverrides& overrides);

/// Classifies new inputs with a finished run's model: an IDX file of u8 images
/// [N, 28, 28] for Fashion-MNIST configs, a text file (or "-" for stdin) with one
/// text per line for fortune configs. Prints "index<TAB>class<TAB>probability".
void predict_experiment(const config::Document& config, const RunOverrides& overrides, const std::string& input,
                        std::ostream& out);

}  // namespace kiln::train
