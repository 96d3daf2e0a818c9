#pragma once
// The optimisation keys of a pretraining config's [train] table (task "lm" and
// task "bert"): steps, grad_accum, lr, min_lr_factor, warmup_steps,
// weight_decay, beta1, beta2, grad_clip, precision. Each absent key keeps the
// value in `defaults`; bad values are refused naming the key.
#include <cstdint>
#include <optional>

#include "kiln/config/config.h"
#include "kiln/train/lm_trainer.h"

namespace kiln::train {

/// `steps_override` (the command line's --epochs N, meaning N steps here) wins
/// over train.steps. warmup_steps is capped at the number of steps.
LmTrainOptions read_lm_train_options(const std::optional<config::Node>& train, LmTrainOptions defaults,
                                     std::optional<std::int64_t> steps_override);

}  // namespace kiln::train
