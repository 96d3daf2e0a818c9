#include "kiln/train/generative_run.h"

#include <system_error>

#include "kiln/core/parallel.h"
#include "kiln/io/idx.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/rmsprop.h"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> joined(std::vector<std::string> shared, const std::vector<std::string>& own) {
  shared.insert(shared.end(), own.begin(), own.end());
  return shared;
}

void copy_config_into(const fs::path& config_file, const fs::path& dir) {
  std::error_code ec;
  // Configs parsed from text (tests) have no file to copy.
  if (!fs::is_regular_file(config_file, ec)) return;
  const fs::path target = dir / ("config" + config_file.extension().string());
  if (fs::exists(target, ec) && fs::equivalent(config_file, target, ec)) return;
  fs::copy_file(config_file, target, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error("output directory '" + dir.string() + "': cannot copy the config there: " + ec.message());
}

}  // namespace

GenerativeRun read_generative_run(const config::Node& root, const RunOverrides& ov, const GenerativeConfigKeys& keys) {
  root.allow_only(
      joined({"name", "task", "output_dir", "seed", "threads", "data", "optimizer", "fit"}, keys.top_level));
  if (ov.resume) {
    throw Error(std::string("--resume is not supported for task ") + keys.task +
                ": these runs save their weights at the end and restart from scratch; run without --resume");
  }
  GenerativeRun run;
  run.name = root.get_string("name", keys.task);
  if (const auto t = root.find("threads"); t && t->as_int() > 0) set_num_threads(static_cast<int>(t->as_int()));
  run.seed = ov.seed.value_or(static_cast<std::uint64_t>(root.get_int("seed", 0)));

  const config::Node data = root.at("data");
  data.allow_only({"dataset", "path", "limit"});
  if (const std::string dataset = data.at("dataset").as_string(); dataset != "fashion-mnist") {
    data.at("dataset").fail(std::string("task ") + keys.task + " trains on \"fashion-mnist\" only, not '" + dataset +
                            "'");
  }
  run.data_dir = ov.data_path.value_or(data.get_string("path", io::kFashionMnistDir.string()));
  run.limit = ov.limit.value_or(data.get_int("limit", 0));
  if (run.limit < 0) data.at("limit").fail("must be >= 0 (0 = all images)");

  const std::optional<config::Node> fit = root.find("fit");
  if (fit) fit->allow_only(joined({"epochs", "batch_size", "log_every"}, keys.fit));
  const auto fit_int = [&](const char* key, std::int64_t fallback) {
    return fit ? fit->get_int(key, fallback) : fallback;
  };
  run.epochs = ov.epochs.value_or(fit_int("epochs", 1));
  run.batch_size = fit_int("batch_size", keys.default_batch_size);
  run.log_every = ov.log_every > 0 ? ov.log_every : fit_int("log_every", 100);
  if (run.epochs < 1) throw Error(root.file() + ": fit.epochs: must be >= 1, got " + std::to_string(run.epochs));
  if (run.batch_size < 1) fit->at("batch_size").fail("must be >= 1");
  if (run.log_every < 1) fit->at("log_every").fail("must be >= 1");

  run.output_dir = ov.output_dir.value_or(root.get_string("output_dir", "runs/" + run.name));
  std::error_code ec;
  fs::create_directories(run.output_dir, ec);
  if (ec) throw Error("output directory '" + run.output_dir.string() + "': cannot create it: " + ec.message());
  copy_config_into(root.file(), run.output_dir);
  return run;
}

std::unique_ptr<optim::Optimizer> make_generative_optimizer(const std::optional<config::Node>& table,
                                                            std::vector<Tensor> params, const OptimizerDefaults& d) {
  const auto num = [&](const char* key, double fallback) {
    return table ? table->get_double(key, fallback) : fallback;
  };
  const std::string name = table ? table->get_string("name", d.name) : d.name;
  if (name == "rmsprop") {
    if (table) table->allow_only({"name", "lr", "alpha", "eps", "momentum", "centered", "weight_decay"});
    return std::make_unique<optim::RMSprop>(
        std::move(params), optim::RMSpropOptions{.lr = num("lr", d.lr),
                                                 .alpha = num("alpha", d.alpha),
                                                 .eps = num("eps", d.eps),
                                                 .weight_decay = num("weight_decay", 0.0),
                                                 .momentum = num("momentum", 0.0),
                                                 .centered = table && table->get_bool("centered", false)});
  }
  if (name == "adam") {
    if (table) table->allow_only({"name", "lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad"});
    return std::make_unique<optim::Adam>(std::move(params),
                                         optim::AdamOptions{.lr = num("lr", d.lr),
                                                            .beta1 = num("beta1", d.beta1),
                                                            .beta2 = num("beta2", d.beta2),
                                                            .eps = num("eps", d.eps),
                                                            .weight_decay = num("weight_decay", 0.0),
                                                            .amsgrad = table && table->get_bool("amsgrad", false)});
  }
  // Only a config can name another optimizer (the defaults are one of the two).
  table->at("name").fail("unknown optimizer '" + name + "' for this task (available: rmsprop, adam)");
}

}  // namespace kiln::train
