#include "kiln/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kiln/nn/format.h"
#include "kiln/optim/state_reader.h"

namespace kiln::optim {

namespace {

Tensor i64_scalar(std::int64_t v) { return Tensor::from_vector(std::vector<std::int64_t>{v}, {}); }
Tensor f64_scalar(double v) { return Tensor::scalar(v, DType::f64); }
std::string base_lr_name(std::size_t g) { return "base_lr." + std::to_string(g); }

}  // namespace

// ---- LRScheduler ----------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(optimizer), name_(std::move(name)) {
  for (std::size_t g = 0; g < optimizer.num_groups(); ++g) base_lrs_.push_back(optimizer.group_lr(g));
}

void LRScheduler::step() {
  ++epoch_;
  apply_current_epoch();
}

void LRScheduler::apply_current_epoch() {
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    optimizer_.set_group_lr(g, next_lr(epoch_, optimizer_.group_lr(g), base_lrs_[g]));
  }
}

nn::StateDict LRScheduler::state_dict() const {
  nn::StateDict out;
  out.add("last_epoch", i64_scalar(epoch_));
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) out.add(base_lr_name(g), f64_scalar(base_lrs_[g]));
  return out;
}

void LRScheduler::load_state_dict(const nn::StateDict& state) {
  StateReader in(state, name_ + ": load_state_dict");
  const auto epoch = in.i64("last_epoch");
  if (epoch && *epoch < 0) in.add_problem("'last_epoch' holds the negative count " + std::to_string(*epoch));
  std::vector<double> bases(base_lrs_.size(), 0.0);
  for (std::size_t g = 0; g < bases.size(); ++g) bases[g] = in.f64(base_lr_name(g)).value_or(0.0);
  in.finish();
  epoch_ = *epoch;
  base_lrs_ = std::move(bases);
  if (closed_form()) apply_current_epoch();
}

// ---- StepLR, ExponentialLR, CosineAnnealingLR -------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw Error("StepLR: step_size must be positive, got " + std::to_string(step_size));
}

double StepLR::next_lr(std::int64_t epoch, double previous, double /*base_lr*/) const {
  return epoch % step_size_ == 0 ? previous * gamma_ : previous;
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {}

double ExponentialLR::next_lr(std::int64_t /*epoch*/, double previous, double /*base_lr*/) const {
  return previous * gamma_;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(t_max), eta_min_(eta_min) {
  if (t_max <= 0) throw Error("CosineAnnealingLR: T_max must be positive, got " + std::to_string(t_max));
}

double CosineAnnealingLR::next_lr(std::int64_t epoch, double previous, double base_lr) const {
  // PyTorch 1.13's get_lr(), term for term.
  const double pi = std::numbers::pi;
  const auto t = static_cast<double>(t_max_);
  if ((epoch - 1 - t_max_) % (2 * t_max_) == 0) {
    return previous + (base_lr - eta_min_) * (1.0 - std::cos(pi / t)) / 2.0;
  }
  const auto e = static_cast<double>(epoch);
  return (1.0 + std::cos(pi * e / t)) / (1.0 + std::cos(pi * (e - 1.0) / t)) * (previous - eta_min_) + eta_min_;
}

// ---- LinearWarmupCosine -------------------------------------------------------------

LinearWarmupCosine::LinearWarmupCosine(Optimizer& optimizer, const Options& options)
    : LRScheduler(optimizer, "LinearWarmupCosine"), opt_(options) {
  const auto fail = [](const std::string& what) { throw Error("LinearWarmupCosine: " + what); };
  if (opt_.total_steps <= 0) fail("total_steps must be positive, got " + std::to_string(opt_.total_steps));
  if (opt_.warmup_steps < 0 || opt_.warmup_steps > opt_.total_steps) {
    fail("warmup_steps must be in [0, total_steps = " + std::to_string(opt_.total_steps) + "], got " +
         std::to_string(opt_.warmup_steps));
  }
  if (!(opt_.start_factor >= 0.0 && opt_.start_factor <= 1.0)) {
    fail("start_factor must be in [0, 1], got " + nn::number_text(opt_.start_factor));
  }
  if (!(opt_.min_lr_factor >= 0.0 && opt_.min_lr_factor <= 1.0)) {
    fail("min_lr_factor must be in [0, 1], got " + nn::number_text(opt_.min_lr_factor));
  }
  apply_current_epoch();  // the lr for t = 0
}

double LinearWarmupCosine::next_lr(std::int64_t epoch, double /*previous*/, double base_lr) const {
  const std::int64_t warmup = opt_.warmup_steps, total = opt_.total_steps;
  if (epoch < warmup) {
    const double ramp = static_cast<double>(epoch + 1) / static_cast<double>(warmup);
    return base_lr * (opt_.start_factor + (1.0 - opt_.start_factor) * ramp);
  }
  const double min_lr = opt_.min_lr_factor * base_lr;
  if (epoch >= total) return min_lr;
  const double progress = static_cast<double>(epoch - warmup) / static_cast<double>(total - warmup);
  return min_lr + (base_lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
}

// ---- ReduceLROnPlateau ------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const Options& options)
    : optimizer_(optimizer),
      opt_(options),
      best_(options.mode == Mode::min ? std::numeric_limits<double>::infinity()
                                      : -std::numeric_limits<double>::infinity()) {
  if (!(opt_.factor < 1.0 && opt_.factor >= 0.0)) {
    throw Error("ReduceLROnPlateau: factor must be in [0, 1), got " + nn::number_text(opt_.factor));
  }
  if (opt_.patience < 0) throw Error("ReduceLROnPlateau: patience must be >= 0, got " + std::to_string(opt_.patience));
  if (opt_.cooldown < 0) throw Error("ReduceLROnPlateau: cooldown must be >= 0, got " + std::to_string(opt_.cooldown));
  if (!(opt_.min_lr >= 0.0)) throw Error("ReduceLROnPlateau: min_lr must be >= 0, got " + nn::number_text(opt_.min_lr));
}

bool ReduceLROnPlateau::is_better(double metric) const {
  return opt_.mode == Mode::min ? metric < best_ * (1.0 - opt_.threshold) : metric > best_ * (1.0 + opt_.threshold);
}

void ReduceLROnPlateau::step(double metric) {
  ++epoch_;
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
    for (std::size_t g = 0; g < optimizer_.num_groups(); ++g) {
      const double old_lr = optimizer_.group_lr(g);
      const double new_lr = std::max(old_lr * opt_.factor, opt_.min_lr);
      if (old_lr - new_lr > opt_.eps) optimizer_.set_group_lr(g, new_lr);
    }
    cooldown_left_ = opt_.cooldown;
    bad_epochs_ = 0;
  }
}

nn::StateDict ReduceLROnPlateau::state_dict() const {
  nn::StateDict out;
  out.add("last_epoch", i64_scalar(epoch_));
  out.add("best", f64_scalar(best_));
  out.add("num_bad_epochs", i64_scalar(bad_epochs_));
  out.add("cooldown_counter", i64_scalar(cooldown_left_));
  return out;
}

void ReduceLROnPlateau::load_state_dict(const nn::StateDict& state) {
  StateReader in(state, "ReduceLROnPlateau: load_state_dict");
  const auto epoch = in.i64("last_epoch");
  const auto best = in.f64("best");
  const auto bad = in.i64("num_bad_epochs");
  const auto cooldown = in.i64("cooldown_counter");
  for (const auto& [name, v] : {std::pair{"last_epoch", epoch}, std::pair{"num_bad_epochs", bad},
                                std::pair{"cooldown_counter", cooldown}}) {
    if (v && *v < 0) in.add_problem("'" + std::string(name) + "' holds the negative count " + std::to_string(*v));
  }
  in.finish();
  epoch_ = *epoch;
  best_ = *best;
  bad_epochs_ = *bad;
  cooldown_left_ = *cooldown;
}

}  // namespace kiln::optim
