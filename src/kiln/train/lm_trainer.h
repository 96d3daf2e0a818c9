#pragma once
// One language-model optimisation step, as GPT pretraining runs it (nanoGPT,
// llm.c): gradient accumulation over micro-batches, global-norm clipping, AdamW
// with weight decay on ≥2-D parameters only, linear warmup then cosine decay.
// The step checks the gradient norm: a NaN or infinite norm skips the update
// (the parameters stay as they were) and is reported, never applied.
//
// Used by `kiln train` for task "lm" (train/lm_experiment.h) and by the
// training benchmark (bench/gpt_train_bench.cpp), so both time the same code.
#include <cstdint>
#include <functional>
#include <memory>

#include "kiln/models/language_model.h"
#include "kiln/nn/state_dict.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/lr_scheduler.h"
#include "kiln/train/data_loader.h"

namespace kiln::train {

struct LmTrainOptions {
  double lr = 6e-4;
  double min_lr_factor = 0.1;      ///< the cosine ends at min_lr_factor · lr
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;    ///< optimizer steps (the schedule's length)
  double weight_decay = 0.1;       ///< on ≥2-D parameters; biases, LayerNorm and nothing else get 0
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;          ///< global L2 norm; 0 disables clipping
  std::int64_t grad_accum = 1;     ///< micro-batches per optimizer step
  /// f32, or bf16 for mixed precision (ops/autocast.h: bf16 GEMMs and attention,
  /// f32 master weights, gradients, moments and reductions).
  DType precision = DType::f32;
};

struct LmStepResult {
  double loss = 0.0;       ///< mean over the step's micro-batches
  double grad_norm = 0.0;  ///< global norm before clipping
  double lr = 0.0;         ///< learning rate the update used
  bool skipped = false;    ///< the norm was not finite: no update was applied
};

class LmTrainer {
 public:
  LmTrainer(models::LanguageModel& model, const LmTrainOptions& options);
  /// For a model with its own loss (BERT's MLM + NSP): train with step_loss only.
  LmTrainer(nn::Module& model, const LmTrainOptions& options);

  /// One optimizer step over options.grad_accum micro-batches from `next_batch`
  /// (a LanguageModel's next-token loss).
  LmStepResult step(const std::function<Batch()>& next_batch);
  /// One optimizer step over options.grad_accum micro-batch losses, each
  /// computed by `micro_batch_loss` (called in train mode under the precision's autocast).
  LmStepResult step_loss(const std::function<Tensor()>& micro_batch_loss);
  /// Mean loss over `batches` (no gradients; the model is put in eval mode and back).
  double evaluate(const std::function<Batch(std::int64_t)>& batch_at, std::int64_t batches);

  std::int64_t steps_done() const { return steps_done_; }
  /// Optimizer moments, schedule position and the step counter, for checkpoints.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);
  const LmTrainOptions& options() const { return options_; }

 private:
  nn::Module& model_;
  models::LanguageModel* lm_ = nullptr;  // null: step_loss only
  LmTrainOptions options_;
  std::unique_ptr<optim::AdamW> optimizer_;
  std::unique_ptr<optim::LinearWarmupCosine> schedule_;
  std::int64_t steps_done_ = 0;
};

}  // namespace kiln::train
