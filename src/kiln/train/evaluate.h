#pragma once
// Classification accuracy.
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/nn/module.h"

namespace kiln::train {

/// Rows of logits [N, C] whose argmax equals the i64 label [N].
std::int64_t count_correct(const Tensor& logits, const Tensor& labels);

/// Fraction of `inputs` [N, ...] the model classifies as `labels` [N],
/// evaluated in eval mode without a graph, `batch_size` rows at a time.
/// The model's training/eval mode is restored afterwards.
double evaluate_accuracy(nn::Layer& model, const Tensor& inputs, const Tensor& labels,
                         std::int64_t batch_size = 1000);

}  // namespace kiln::train
