#pragma once
// Callbacks: Keras' hooks into fit(). A callback sees the epoch's logs
// ("loss", "accuracy", "val_loss", ...), may stop training, and saves whatever
// it must remember into checkpoints so a resumed run behaves as an
// uninterrupted one (EarlyStopping's patience counter and best weights, a
// schedule's position).
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/nn/module.h"
#include "kiln/nn/state_dict.h"
#include "kiln/optim/optimizer.h"

namespace kiln::train {

/// Metric name -> value for one epoch (or one batch).
using Logs = std::map<std::string, double>;

class Trainer;

/// What a callback may read and do during fit().
struct TrainContext {
  nn::Module& model;
  optim::Optimizer& optimizer;
  std::int64_t epochs;           ///< total epochs asked for
  std::int64_t steps_per_epoch;
  bool stop_training = false;    ///< set to end fit() after this epoch
  /// Writes a full, resumable checkpoint of the run (as of the end of the current epoch when called from on_epoch_end).
  std::function<void(const std::string& path)> save_checkpoint;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual std::string name() const = 0;
  virtual void on_train_begin(TrainContext& /*ctx*/) {}
  /// `epoch` counts from 0.
  virtual void on_epoch_begin(TrainContext& /*ctx*/, std::int64_t /*epoch*/) {}
  /// After each optimizer step; `step` counts from 0 over the whole run.
  virtual void on_batch_end(TrainContext& /*ctx*/, std::int64_t /*step*/, double /*loss*/) {}
  virtual void on_epoch_end(TrainContext& /*ctx*/, std::int64_t /*epoch*/, const Logs& /*logs*/) {}
  virtual void on_train_end(TrainContext& /*ctx*/) {}

  /// Checkpointing: scalar state as JSON, tensors (e.g. best weights) into `tensors`.
  virtual nlohmann::json save_state(nn::StateDict& /*tensors*/) const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json& /*state*/, const nn::StateDict& /*tensors*/) {}
};

}  // namespace kiln::train
