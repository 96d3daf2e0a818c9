#pragma once
// The standard callbacks (Keras names and semantics): EarlyStopping,
// ModelCheckpoint, LRSchedule, CSVLogger, JsonlLogger.
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/optim/lr_scheduler.h"
#include "kiln/train/callback.h"

namespace kiln::train {

/// Which direction of a monitored metric is better; `auto_` picks max for
/// names containing "acc", "auc", "f1", "precision" or "recall", else min.
enum class MonitorMode : std::uint8_t { auto_, min, max };

/// Tracks the best value of one logged metric.
class Monitor {
 public:
  Monitor(std::string name, MonitorMode mode, double min_delta);
  /// The metric's value in `logs`; throws naming the available metrics if absent.
  double value(const Logs& logs) const;
  /// True when `v` beats the best so far by more than min_delta.
  bool improves(double v) const;
  const std::string& name() const { return name_; }
  bool maximize() const { return maximize_; }
  std::optional<double> best;

 private:
  std::string name_;
  bool maximize_;
  double min_delta_;
};

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::auto_;
  double min_delta = 0.0;
  std::int64_t patience = 0;
  bool restore_best_weights = false;
};

/// Stops when the monitored metric has not improved for `patience` epochs; with
/// restore_best_weights, the model ends with the weights of the best epoch.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(const EarlyStoppingOptions& options);
  std::string name() const override { return "early_stopping"; }
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) override;
  void on_train_end(TrainContext& ctx) override;
  nlohmann::json save_state(nn::StateDict& tensors) const override;
  void load_state(const nlohmann::json& state, const nn::StateDict& tensors) override;

  /// Epoch (from 0) training stopped after, or -1.
  std::int64_t stopped_epoch() const { return stopped_epoch_; }
  std::int64_t best_epoch() const { return best_epoch_; }

 private:
  EarlyStoppingOptions opt_;
  Monitor monitor_;
  std::int64_t wait_ = 0;
  std::int64_t best_epoch_ = -1;
  std::int64_t stopped_epoch_ = -1;
  nn::StateDict best_weights_;  // deep copies
};

struct ModelCheckpointOptions {
  std::string path;                 ///< file written (atomically) after an epoch
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::auto_;
  bool save_best_only = false;
};

/// Saves a full, resumable checkpoint after every epoch, or only when the
/// monitored metric improved.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(const ModelCheckpointOptions& options);
  std::string name() const override { return "model_checkpoint"; }
  void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) override;
  nlohmann::json save_state(nn::StateDict& tensors) const override;
  void load_state(const nlohmann::json& state, const nn::StateDict& tensors) override;
  std::int64_t saves() const { return saves_; }

 private:
  ModelCheckpointOptions opt_;
  Monitor monitor_;
  std::int64_t saves_ = 0;
};

/// Steps a learning-rate schedule: after every epoch (torch's usual place), or
/// after every optimizer step when `per_step`. ReduceLROnPlateau steps on a
/// monitored metric after each epoch.
class LRSchedule : public Callback {
 public:
  /// `make` builds the schedule once the optimizer exists (at train begin).
  using MakeScheduler = std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer&)>;
  LRSchedule(MakeScheduler make, bool per_step);
  /// ReduceLROnPlateau on `monitor`.
  LRSchedule(optim::ReduceLROnPlateau::Options options, std::string monitor);
  std::string name() const override { return "lr_schedule"; }
  void on_train_begin(TrainContext& ctx) override;
  void on_batch_end(TrainContext& ctx, std::int64_t step, double loss) override;
  void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) override;
  nlohmann::json save_state(nn::StateDict& tensors) const override;
  void load_state(const nlohmann::json& state, const nn::StateDict& tensors) override;

 private:
  void ensure_built(optim::Optimizer& optimizer);

  MakeScheduler make_;
  bool per_step_ = false;
  std::optional<optim::ReduceLROnPlateau::Options> plateau_options_;
  std::string monitor_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  std::unique_ptr<optim::ReduceLROnPlateau> plateau_;
  std::optional<nn::StateDict> pending_state_;  // loaded before the schedule was built
};

/// A per-epoch log file that survives resumes: a fresh run truncates it; a
/// resumed run keeps the lines of the epochs its checkpoint had reached (plus
/// `header_lines` once any epoch was logged) and appends from there.
class EpochLogFile : public Callback {
 public:
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) override;
  nlohmann::json save_state(nn::StateDict& tensors) const override;
  void load_state(const nlohmann::json& state, const nn::StateDict& tensors) override;

 protected:
  EpochLogFile(std::string path, const char* what, std::int64_t header_lines);
  /// The text appended for one epoch; `first` when nothing was logged yet.
  virtual std::string format_epoch(std::int64_t epoch, const Logs& logs, bool first) const = 0;

 private:
  std::string path_;
  std::int64_t header_lines_;
  std::int64_t epochs_logged_ = 0;
  bool resumed_ = false;
};

/// Appends one row per epoch: epoch, then every logged metric in name order.
class CSVLogger : public EpochLogFile {
 public:
  explicit CSVLogger(std::string path) : EpochLogFile(std::move(path), "CSVLogger", 1) {}
  std::string name() const override { return "csv_logger"; }

 protected:
  std::string format_epoch(std::int64_t epoch, const Logs& logs, bool first) const override;
};

/// One JSON object per epoch ({"epoch": 1, "loss": ..., ...}) per line.
class JsonlLogger : public EpochLogFile {
 public:
  explicit JsonlLogger(std::string path) : EpochLogFile(std::move(path), "JsonlLogger", 0) {}
  std::string name() const override { return "jsonl_logger"; }

 protected:
  std::string format_epoch(std::int64_t epoch, const Logs& logs, bool first) const override;
};

}  // namespace kiln::train
