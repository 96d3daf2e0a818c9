#pragma once
// The optimizers' in-place, fused operations: one pass over a parameter, its
// gradient and its state per call. Defined in ops/optim_ops.cpp (the op
// layer: argument checks, then a kernel from ops/optim_kernels.h looked up
// by the parameter's device and dtype). None of them is recorded by autograd.
#include "kiln/core/tensor.h"
#include "kiln/ops/optim_kernels.h"

namespace kiln::optim {

// Each update checks that every defined tensor has the parameter's shape,
// dtype and device and throws naming the op and the tensor otherwise. State
// tensors must be contiguous (optimizers allocate them so); a non-contiguous
// gradient is read through a contiguous copy and a non-contiguous parameter
// is updated through one and copied back.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, const SgdStepArgs& args);
/// param_bf16 (optional, for an f32 parameter): a contiguous bf16 tensor of
/// the parameter's shape that also receives the updated values, rounded.
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const Tensor& max_exp_avg_sq, const AdamStepArgs& args, const Tensor& param_bf16 = Tensor());
void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                   const Tensor& momentum_buffer, const RmspropStepArgs& args);
void adagrad_step_(const Tensor& param, const Tensor& grad, const Tensor& sum, const AdagradStepArgs& args);

/// Whether a fused update for (device, dtype) is registered: optimizers check
/// their parameters with it up front so an unsupported dtype (bf16 and f16
/// parameters today) is rejected at construction, not at the first step.
bool sgd_step_supported(const Tensor& param);
bool adam_step_supported(const Tensor& param);
bool rmsprop_step_supported(const Tensor& param);
bool adagrad_step_supported(const Tensor& param);

/// acc (an f64 scalar on x's device) += Σ x² over all elements of x.
void sum_squares_accumulate_(const Tensor& x, const Tensor& acc);
/// x = clamp(x, lo, hi) in place (NaN stays NaN); lo <= hi.
void clamp_(const Tensor& x, double lo, double hi);

}  // namespace kiln::optim
