#pragma once
// Learning-rate schedules (torch.optim.lr_scheduler). A schedule advances by
// step(): call it once per epoch or once per batch, as the schedule's counts
// are meant (it only counts calls). Every group of the optimizer is scheduled
// from its own base lr (its lr when the schedule was made), as in PyTorch.
// StepLR, ExponentialLR and CosineAnnealingLR use PyTorch's recursive
// (chainable) formulas so the learning rates agree with PyTorch's to the last bits.
//
// Resuming: make the optimizer and the schedule as at the start of training,
// then load both state dicts; the optimizer's holds the current learning
// rates, the schedule's its counters and base lrs.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kiln/nn/state_dict.h"
#include "kiln/optim/optimizer.h"

namespace kiln::optim {

/// Base: remembers each group's starting lr; step() advances one epoch and
/// writes every group's new lr into the optimizer. The optimizer must outlive the schedule.
class LRScheduler {
 public:
  LRScheduler(Optimizer& optimizer, std::string name);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step();
  /// The lr all groups share (Optimizer::lr(): throws when they differ).
  double last_lr() const { return optimizer_.lr(); }
  double last_lr(std::size_t group) const { return optimizer_.group_lr(group); }
  /// step() calls so far.
  std::int64_t last_epoch() const { return epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  /// "last_epoch" (i64 scalar) and "base_lr.<g>" (f64 scalar per group).
  nn::StateDict state_dict() const;
  /// Restores the counter and base lrs; throws naming every bad or unexpected entry.
  void load_state_dict(const nn::StateDict& state);

 protected:
  /// The lr of a group for `epoch` (≥ 1) given its lr at the previous epoch and its base lr.
  virtual double next_lr(std::int64_t epoch, double previous, double base_lr) const = 0;
  /// Writes next_lr(last_epoch(), ...) into every group (closed-form schedules
  /// use it to set the lr of epoch 0 and after loading).
  void apply_current_epoch();
  /// Closed-form schedules return true: the lr depends only on the epoch and
  /// base lr, so load_state_dict() also rewrites the optimizer's learning rates.
  virtual bool closed_form() const { return false; }
  const std::string& name() const { return name_; }

 private:
  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  std::int64_t epoch_ = 0;
};

/// lr · gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double next_lr(std::int64_t epoch, double previous, double base_lr) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// lr · gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  double next_lr(std::int64_t epoch, double previous, double base_lr) const override;

 private:
  double gamma_;
};

/// eta_min + (base - eta_min)·(1 + cos(π·t/T_max))/2, continued periodically past T_max.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);

 protected:
  double next_lr(std::int64_t epoch, double previous, double base_lr) const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

/// Linear warmup then cosine decay (the GPT-2/3 recipe), usually stepped once
/// per batch. With t = last_epoch() (0 when made), W = warmup_steps,
/// T = total_steps, s = start_factor, f = min_lr_factor, and b a group's base lr:
///
///     t <  W:       lr = b · (s + (1 - s) · (t + 1) / W)      linear, reaching b at t = W - 1
///     W <= t < T:   lr = f·b + (b - f·b) · (1 + cos(π · (t - W) / (T - W))) / 2
///     t >= T:       lr = f·b
///
/// So with s = 0 the first update uses b / W (never 0), the cosine starts from
/// b at t = W and ends at f·b. The lr for t = 0 is written into the optimizer
/// when the schedule is made. Each lr is computed from t alone (not from the
/// previous lr), so a resumed run repeats the same values exactly.
class LinearWarmupCosine : public LRScheduler {
 public:
  struct Options {
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 0;  ///< warmup included; must be >= warmup_steps and > 0
    double start_factor = 0.0;     ///< in [0, 1]
    double min_lr_factor = 0.0;    ///< final lr as a fraction of the base lr, in [0, 1] (GPT-3: 0.1)
  };
  LinearWarmupCosine(Optimizer& optimizer, const Options& options);

 protected:
  double next_lr(std::int64_t epoch, double previous, double base_lr) const override;
  bool closed_form() const override { return true; }

 private:
  Options opt_;
};

/// Multiplies every group's lr by `factor` (not below min_lr) when the metric
/// has not improved (relative threshold) for more than `patience` epochs.
class ReduceLROnPlateau {
 public:
  enum class Mode : std::uint8_t { min, max };
  struct Options {
    Mode mode = Mode::min;
    double factor = 0.1;
    std::int64_t patience = 10;
    double threshold = 1e-4;  ///< relative
    std::int64_t cooldown = 0;
    double min_lr = 0.0;  ///< for every group
    double eps = 1e-8;    ///< changes smaller than this are skipped
  };
  ReduceLROnPlateau(Optimizer& optimizer, const Options& options);
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  void step(double metric);
  double last_lr() const { return optimizer_.lr(); }
  double last_lr(std::size_t group) const { return optimizer_.group_lr(group); }
  std::int64_t last_epoch() const { return epoch_; }

  /// "last_epoch", "num_bad_epochs", "cooldown_counter" (i64 scalars) and "best" (f64 scalar).
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  bool is_better(double metric) const;

  Optimizer& optimizer_;
  Options opt_;
  double best_;
  std::int64_t bad_epochs_ = 0;
  std::int64_t cooldown_left_ = 0;
  std::int64_t epoch_ = 0;
};

}  // namespace kiln::optim
