#pragma once
// One epoch of mini-batch training: forward, loss, backward, optimizer step.
#include <functional>

#include "kiln/nn/module.h"
#include "kiln/optim/optimizer.h"
#include "kiln/train/data_loader.h"
#include "kiln/train/progress.h"

namespace kiln::train {

/// loss(model output, targets) -> scalar tensor.
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& targets)>;

/// Runs loader.start_epoch() and every batch of it once, in training mode.
/// `progress` (may be null) is told about every step; the caller starts and
/// ends its epoch. Returns the mean batch loss.
double train_epoch(nn::Layer& model, optim::Optimizer& optimizer, DataLoader& loader, const LossFn& loss_fn,
                   ProgressReporter* progress = nullptr);

}  // namespace kiln::train
