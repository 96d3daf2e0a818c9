#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2).
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::optim {

/// Scales every gradient by max_norm / (total + 1e-6) when that is below 1,
/// where total is the 2-norm of all gradients together. Parameters without a
/// gradient are ignored. Returns the total norm before clipping.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace kiln::optim
