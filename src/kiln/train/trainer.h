#pragma once
// Trainer: Keras' compile / fit / evaluate / predict / summary for any
// one-input Layer, with callbacks, a progress bar, class weights, a background
// batch loader, and checkpoints that resume bit for bit.
//
//   Trainer t(model);
//   t.compile(std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-3}),
//             objective_by_name("sparse_categorical_crossentropy"), {make_metric("accuracy", 10)});
//   History h = t.fit(x, y, {.epochs = 10, .batch_size = 128, .validation_split = 0.2});
//
// Resuming: with `checkpoint_path` set, Ctrl-C (SIGINT) or SIGTERM during fit()
// saves a checkpoint there after the current step and fit() returns with
// `interrupted`; `checkpoint_every_steps` also saves periodically. fit() with
// `resume` loads that file and continues at the step after it, with the same
// model, optimizer, schedule, RNG, data order and callback state, so every
// later loss equals the uninterrupted run's.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/nn/module.h"
#include "kiln/optim/optimizer.h"
#include "kiln/train/callback.h"
#include "kiln/train/data_loader.h"
#include "kiln/train/metrics.h"
#include "kiln/train/objective.h"

namespace kiln::train {

/// Changes a training batch's inputs (augmentation). `gen` is seeded from
/// (fit seed, epoch, batch), so the same batch gets the same change on resume.
using BatchTransform = std::function<Tensor(const Tensor& inputs, Generator& gen)>;

struct FitOptions {
  std::int64_t epochs = 1;
  std::int64_t batch_size = 32;
  /// Fraction of the samples held out for validation: the LAST ones, before any
  /// shuffling (Keras' rule). Ignored when validation_x is given.
  double validation_split = 0.0;
  Tensor validation_x{};
  Tensor validation_y{};
  bool shuffle = true;
  /// class index -> loss weight (Keras class_weight); needs integer targets [N].
  std::map<std::int64_t, double> class_weight{};
  std::uint64_t seed = 0;  ///< data order and augmentation
  std::vector<std::shared_ptr<Callback>> callbacks{};
  BatchTransform augment{};
  /// Global-norm gradient clipping (0 = off).
  double clip_grad_norm = 0.0;
  /// Where interrupts and periodic saves write, and resume reads ("" = none).
  std::string checkpoint_path{};
  std::int64_t checkpoint_every_steps = 0;
  bool resume = false;
  /// 0 silent, 1 progress (bar on a terminal, plain lines otherwise) + epoch lines, 2 epoch lines only.
  int verbose = 1;
  std::int64_t log_every = 100;  ///< plain progress line every N steps
  std::ostream* out = nullptr;   ///< default std::cout
  std::int64_t prefetch = 2;     ///< batches prepared ahead on a background thread
  /// Called with (global step from 0, loss) after every optimizer step.
  std::function<void(std::int64_t, double)> on_step{};
};

struct History {
  std::vector<Logs> epochs;        ///< one entry per finished epoch (incl. those before a resume)
  bool interrupted = false;        ///< stopped by a signal; a checkpoint was saved
  std::int64_t resumed_at_step = -1;  ///< global step the run resumed after (-1: fresh)
  std::int64_t steps = 0;          ///< optimizer steps taken in total
};

class Trainer {
 public:
  explicit Trainer(std::shared_ptr<nn::Layer> model);

  /// Sets the optimizer (over the model's parameters), the objective and metrics.
  void compile(std::unique_ptr<optim::Optimizer> optimizer, Objective objective,
               std::vector<std::shared_ptr<Metric>> metrics = {});

  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  /// Loss and metrics over (x, y) in eval mode without a graph.
  Logs evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size = 256);
  /// The model's outputs for x, concatenated over batches (eval mode, no graph).
  Tensor predict(const Tensor& x, std::int64_t batch_size = 256);

  /// Keras' model.summary(): every layer with its output shape and parameter
  /// count, then the totals of trainable and non-trainable parameters. Shapes
  /// come from one forward pass of a zero batch of `input_shape` (batch dim
  /// excluded) and dtype.
  std::string summary(const Shape& input_shape, DType dtype = DType::f32);

  nn::Layer& model() { return *model_; }
  optim::Optimizer& optimizer();

  /// Writes a resumable checkpoint of the current state (between epochs: epoch
  /// `next_epoch` starts at its first batch).
  void save_checkpoint(const std::string& path, std::int64_t next_epoch = 0, std::int64_t next_batch = 0);

 private:
  /// Where fit() stands: what a checkpoint records besides tensors.
  struct RunState {
    std::int64_t epoch = 0;       ///< epoch in progress (from 0)
    std::int64_t next_batch = 0;  ///< first batch of `epoch` not yet trained
    std::int64_t step = 0;        ///< optimizer steps so far
    std::uint64_t seed = 0;
    std::int64_t batch_size = 0;
    std::int64_t num_samples = 0;
    double epoch_loss_sum = 0.0;  ///< of the batches of `epoch` trained so far
    std::int64_t epoch_batches = 0;
  };
  void check_compiled(const char* what) const;
  Tensor batch_loss(const Tensor& output, const Batch& batch) const;
  void save_run_checkpoint(const std::string& path, const RunState& run);
  void load_run_checkpoint(const std::string& path, RunState& run);

  std::shared_ptr<nn::Layer> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  Objective objective_;
  std::vector<std::shared_ptr<Metric>> metrics_;
  std::vector<std::shared_ptr<Callback>> callbacks_;  // of the current fit()
  History history_;
  RunState last_run_;  // of the latest fit(), for save_checkpoint()
};

/// Keras' validation_split: the last ⌊n·fraction⌋ rows (at least one) become validation data.
struct SplitData {
  Tensor train_x, train_y, val_x, val_y;
};
SplitData split_tail(const Tensor& x, const Tensor& y, double fraction);

}  // namespace kiln::train
