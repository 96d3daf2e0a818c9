#pragma once
// Gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2, and clip_grad_value_).
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::optim {

struct ClipGradNormOptions {
  /// Throw when the total norm is NaN or infinite instead of scaling by it.
  /// Off by default, as in PyTorch 1.13: then the gradients are multiplied by
  /// max_norm / (total + 1e-6) like any other total, which turns them into NaN
  /// (or into 0 and NaN when the total is infinite).
  bool error_if_nonfinite = false;
};

/// Scales every gradient by max_norm / (total + 1e-6) when that is below 1,
/// where total is the 2-norm of all gradients together. Parameters without a
/// gradient are ignored. Returns the total norm before clipping.
///
/// Costs one pass over each gradient to add its sum of squares (in f64) into
/// one accumulator on the device, one read of that accumulator, and one
/// scaling pass per gradient when clipping.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipGradNormOptions& options = {});

/// The 2-norm of all gradients together (what clip_grad_norm_ returns),
/// without changing them: one pass per gradient and one read-back.
double grad_norm(const std::vector<Tensor>& params);

/// Clamps every gradient into [-clip_value, clip_value] in place (NaN stays
/// NaN); parameters without a gradient are ignored.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace kiln::optim
