#include "kiln/train/lm_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kiln/ops/autocast.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/clip_grad.h"

namespace kiln::train {

namespace {

std::vector<optim::ParamGroup> decay_groups(const nn::Module& model, double weight_decay) {
  std::vector<Tensor> decay, no_decay;
  for (const auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  return {{.params = decay, .weight_decay = weight_decay}, {.params = no_decay, .weight_decay = 0.0}};
}

}  // namespace

LmTrainer::LmTrainer(models::LanguageModel& model, const LmTrainOptions& options)
    : LmTrainer(static_cast<nn::Module&>(model), options) {
  lm_ = &model;
}

LmTrainer::LmTrainer(nn::Module& model, const LmTrainOptions& options) : model_(model), options_(options) {
  if (options.grad_accum < 1) throw Error("LM training: grad_accum must be at least 1, got " + std::to_string(options.grad_accum));
  if (options.total_steps < 1) throw Error("LM training: steps must be at least 1, got " + std::to_string(options.total_steps));
  if (options.warmup_steps < 0 || options.warmup_steps > options.total_steps) {
    throw Error("LM training: warmup_steps " + std::to_string(options.warmup_steps) + " must be in [0, steps = " +
                std::to_string(options.total_steps) + "]");
  }
  if (options.precision != DType::f32 && options.precision != DType::bf16) {
    throw Error(std::string("LM training: precision must be f32 or bf16, got ") + dtype_name(options.precision));
  }
  if (!(options.grad_clip >= 0.0)) throw Error("LM training: grad_clip must be >= 0");
  optimizer_ = std::make_unique<optim::AdamW>(
      decay_groups(model, options.weight_decay),
      optim::AdamWOptions{.lr = options.lr, .beta1 = options.beta1, .beta2 = options.beta2, .eps = options.eps,
                          .weight_decay = options.weight_decay});
  schedule_ = std::make_unique<optim::LinearWarmupCosine>(
      *optimizer_, optim::LinearWarmupCosine::Options{.warmup_steps = options.warmup_steps,
                                                      .total_steps = options.total_steps,
                                                      .start_factor = 0.0,
                                                      .min_lr_factor = options.min_lr_factor});
}

LmStepResult LmTrainer::step(const std::function<Batch()>& next_batch) {
  if (lm_ == nullptr) throw Error("LM training: step() needs a language model; this trainer takes losses (step_loss)");
  return step_loss([&] {
    const Batch b = next_batch();
    return lm_->loss(b.inputs, b.targets);
  });
}

LmStepResult LmTrainer::step_loss(const std::function<Tensor()>& micro_batch_loss) {
  model_.train();
  optimizer_->zero_grad();
  LmStepResult r;
  const double scale = 1.0 / static_cast<double>(options_.grad_accum);
  for (std::int64_t micro = 0; micro < options_.grad_accum; ++micro) {
    const AutocastGuard autocast(options_.precision);
    const Tensor loss = micro_batch_loss();
    (options_.grad_accum == 1 ? loss : mul(loss, scale)).backward();
    r.loss += loss.item() * scale;
  }
  const std::vector<Tensor> params = model_.parameters();
  // The norm is measured even with clipping off, so a NaN is caught. Clipping
  // itself is fused into AdamW's pass (step_scaled), as torch's
  // clip_grad_norm_ + step would compute it, without rewriting the gradients.
  r.grad_norm = optim::grad_norm(params);
  r.lr = optimizer_->group_lr(0);
  if (!std::isfinite(r.grad_norm)) {
    r.skipped = true;  // the gradients may hold NaN: nothing of them reaches the weights
  } else {
    const double coef = options_.grad_clip > 0.0 ? options_.grad_clip / (r.grad_norm + 1e-6) : 1.0;
    optimizer_->step_scaled(std::min(coef, 1.0));
  }
  schedule_->step();
  ++steps_done_;
  return r;
}

double LmTrainer::evaluate(const std::function<Batch(std::int64_t)>& batch_at, std::int64_t batches) {
  if (lm_ == nullptr) throw Error("LM training: evaluate() needs a language model");
  NoGradGuard no_grad;
  const bool was_training = model_.is_training();
  model_.eval();
  double total = 0.0, rows = 0.0;
  for (std::int64_t i = 0; i < batches; ++i) {
    const Batch b = batch_at(i);
    const AutocastGuard autocast(options_.precision);
    const double n = static_cast<double>(b.inputs.size(0));
    total += lm_->loss(b.inputs, b.targets).item() * n;  // batches may differ in rows (the last one)
    rows += n;
  }
  model_.train(was_training);
  return rows > 0 ? total / rows : 0.0;
}

nn::StateDict LmTrainer::state_dict() const {
  nn::StateDict s;
  s.merge(optimizer_->state_dict(), "optimizer.");
  s.merge(schedule_->state_dict(), "schedule.");
  s.add("steps_done", Tensor::scalar(static_cast<double>(steps_done_), DType::i64));
  return s;
}

void LmTrainer::load_state_dict(const nn::StateDict& state) {
  optimizer_->load_state_dict(state.with_prefix_removed("optimizer."));
  schedule_->load_state_dict(state.with_prefix_removed("schedule."));
  steps_done_ = static_cast<std::int64_t>(state.at("steps_done", "LM trainer state").item());
}

}  // namespace kiln::train
