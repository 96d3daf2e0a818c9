#include "kiln/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kiln::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}

void LRScheduler::step() {
  ++epoch_;
  optimizer_.set_lr(next_lr(epoch_, optimizer_.lr()));
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw Error("StepLR: step_size must be positive, got " + std::to_string(step_size));
}

double StepLR::next_lr(std::int64_t epoch, double previous) const {
  return epoch % step_size_ == 0 ? previous * gamma_ : previous;
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {}

double ExponentialLR::next_lr(std::int64_t /*epoch*/, double previous) const { return previous * gamma_; }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LRScheduler(optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max <= 0) throw Error("CosineAnnealingLR: T_max must be positive, got " + std::to_string(t_max));
}

double CosineAnnealingLR::next_lr(std::int64_t epoch, double previous) const {
  // PyTorch 1.13's get_lr(), term for term.
  const double pi = std::numbers::pi;
  const auto t = static_cast<double>(t_max_);
  if ((epoch - 1 - t_max_) % (2 * t_max_) == 0) {
    return previous + (base_lr() - eta_min_) * (1.0 - std::cos(pi / t)) / 2.0;
  }
  const auto e = static_cast<double>(epoch);
  return (1.0 + std::cos(pi * e / t)) / (1.0 + std::cos(pi * (e - 1.0) / t)) * (previous - eta_min_) + eta_min_;
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const Options& options)
    : optimizer_(optimizer),
      opt_(options),
      best_(options.mode == Mode::min ? std::numeric_limits<double>::infinity()
                                      : -std::numeric_limits<double>::infinity()) {
  if (!(opt_.factor < 1.0 && opt_.factor >= 0.0)) {
    throw Error("ReduceLROnPlateau: factor must be in [0, 1), got " + std::to_string(opt_.factor));
  }
  if (opt_.patience < 0) throw Error("ReduceLROnPlateau: patience must be >= 0");
}

bool ReduceLROnPlateau::is_better(double metric) const {
  return opt_.mode == Mode::min ? metric < best_ * (1.0 - opt_.threshold) : metric > best_ * (1.0 + opt_.threshold);
}

void ReduceLROnPlateau::step(double metric) {
  if (is_better(metric)) {
    best_ = metric;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > opt_.patience) {
    const double old_lr = optimizer_.lr();
    const double new_lr = std::max(old_lr * opt_.factor, opt_.min_lr);
    if (old_lr - new_lr > opt_.eps) optimizer_.set_lr(new_lr);
    cooldown_left_ = opt_.cooldown;
    bad_epochs_ = 0;
  }
}

}  // namespace kiln::optim
