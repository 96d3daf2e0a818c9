#pragma once
// Objective: what fit() minimises, as per-sample losses so the Trainer can
// apply Keras' class weights (per-sample weights, mean over the batch) to any
// loss. Names follow Keras' loss names.
#include <functional>
#include <string>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::train {

struct Objective {
  std::string name;
  /// Per-sample losses [B] for model output [B, ...] and targets [B, ...].
  std::function<Tensor(const Tensor& output, const Tensor& target)> per_sample;
};

/// "sparse_categorical_crossentropy" (logits [B, C], i64 labels [B]),
/// "categorical_crossentropy" (logits, one-hot or probability targets [B, C]),
/// "binary_crossentropy" (logits and 0/1 targets of the same shape),
/// "mse", "mae" (same shapes; mean over all but the batch dimension).
/// Throws naming the known objectives for other names.
Objective objective_by_name(const std::string& name);
const std::vector<std::string>& objective_names();

}  // namespace kiln::train
