#pragma once
// Learning-rate schedules (torch.optim.lr_scheduler), stepped once per epoch.
// They use PyTorch's recursive (chainable) formulas so the learning rates
// agree with PyTorch's to the last bits.
#include <cstdint>
#include <limits>
#include <string>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

/// Base: remembers the optimizer's starting lr; step() advances one epoch and
/// writes the new lr into the optimizer. The optimizer must outlive the schedule.
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  void step();
  double last_lr() const { return optimizer_.lr(); }
  std::int64_t last_epoch() const { return epoch_; }

 protected:
  /// The lr for `epoch` (≥ 1) given the lr of the previous epoch.
  virtual double next_lr(std::int64_t epoch, double previous) const = 0;
  double base_lr() const { return base_lr_; }

 private:
  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t epoch_ = 0;
};

/// lr · gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double next_lr(std::int64_t epoch, double previous) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// lr · gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  double next_lr(std::int64_t epoch, double previous) const override;

 private:
  double gamma_;
};

/// eta_min + (base - eta_min)·(1 + cos(π·t/T_max))/2, continued periodically past T_max.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);

 protected:
  double next_lr(std::int64_t epoch, double previous) const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

/// Multiplies lr by `factor` when the metric has not improved (relative
/// threshold) for more than `patience` epochs.
class ReduceLROnPlateau {
 public:
  enum class Mode : std::uint8_t { min, max };
  struct Options {
    Mode mode = Mode::min;
    double factor = 0.1;
    std::int64_t patience = 10;
    double threshold = 1e-4;  ///< relative
    std::int64_t cooldown = 0;
    double min_lr = 0.0;
    double eps = 1e-8;
  };
  ReduceLROnPlateau(Optimizer& optimizer, const Options& options);
  void step(double metric);
  double last_lr() const { return optimizer_.lr(); }

 private:
  bool is_better(double metric) const;

  Optimizer& optimizer_;
  Options opt_;
  double best_;
  std::int64_t bad_epochs_ = 0;
  std::int64_t cooldown_left_ = 0;
};

}  // namespace kiln::optim
