#pragma once
// Kernel tables for the optimizers' fused updates and gradient clipping (the
// optim family beside ops/kernels.h). Each update kernel makes ONE pass over
// parameter, gradient and state: element i is read once, updated in
// registers and written once, where composing ops would make ~14 passes and
// allocate 8 temporaries per Adam step.
//
// Conventions: every tensor handed to a kernel is contiguous, and all the
// tensors of one call share shape, dtype and device (the op layer in
// ops/optim_ops.cpp checks this and makes copies where needed). A state
// tensor an option does not use is passed undefined. Hyper-parameters are
// host scalars per call (bias corrections are computed on the host from the
// step count, which needs no device round trip); kernels convert them to the
// element type the way PyTorch 1.13 converts a Python float, and keep its
// operation order, noted on each table, so results agree with torch.optim to rounding.
#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

struct SgdStepArgs {
  double lr = 0.0;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  /// The momentum buffer holds no value yet: it is set to d instead of decayed.
  bool first_step = false;
};
// param, grad [n]; momentum_buffer [n] (undefined when momentum == 0).
//   d = g + wd·p;  buf = first ? d : buf·μ + (1-dampening)·d;  d = nesterov ? d + μ·buf : buf;  p = p + (-lr)·d
using SgdStepKernel = void(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                           const SgdStepArgs& args);

struct AdamStepArgs {
  double lr = 0.0;
  double beta1 = 0.0;
  double beta2 = 0.0;
  double eps = 0.0;
  double weight_decay = 0.0;
  /// AdamW: p·(1 - lr·wd) before the update instead of adding wd·p to g.
  bool decoupled_weight_decay = false;
  double bias_correction1 = 1.0;       ///< 1 - β1ᵗ
  double bias_correction2_sqrt = 1.0;  ///< √(1 - β2ᵗ)
  /// The gradient is read as g·grad_scale: global-norm clipping fused into the
  /// update pass instead of a separate pass that rewrites every gradient.
  double grad_scale = 1.0;
};
// param, grad, exp_avg, exp_avg_sq [n]; max_exp_avg_sq [n] (AMSGrad only, else undefined).
//   AdamW: p = p·(1 - lr·wd); Adam: g = g + wd·p
//   m = m·β1 + (1-β1)·g;  v = v·β2 + (1-β2)·g·g;  AMSGrad: v̂ = max(v̂, v)
//   p = p + (-(lr/bc1))·m / (√v / bc2_sqrt + eps)
// param_bf16 [n] (f32 parameters only, else undefined): also receives bf16(p)
// in the same pass — autocast's copy of the weight, so the next forward does
// not cast it again.
using AdamStepKernel = void(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                            const Tensor& max_exp_avg_sq, const Tensor& param_bf16, const AdamStepArgs& args);

struct RmspropStepArgs {
  double lr = 0.0;
  double alpha = 0.0;
  double eps = 0.0;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};
// param, grad, square_avg [n]; grad_avg [n] (centered only); momentum_buffer [n] (momentum > 0 only).
//   g = g + wd·p;  s = s·α + (1-α)·g·g;  centered: a = a·α + (1-α)·g, avg = √(s + (-1)·a·a), else avg = √s
//   avg = avg + eps;  momentum: buf = buf·μ + g/avg, p = p + (-lr)·buf;  else p = p + (-lr)·g/avg
using RmspropStepKernel = void(const Tensor& param, const Tensor& grad, const Tensor& square_avg,
                               const Tensor& grad_avg, const Tensor& momentum_buffer, const RmspropStepArgs& args);

struct AdagradStepArgs {
  double clr = 0.0;  ///< lr / (1 + (t-1)·lr_decay), computed on the host
  double eps = 0.0;
  double weight_decay = 0.0;
};
// param, grad, sum [n].
//   g = g + wd·p;  sum = sum + g·g;  p = p + (-clr)·g / (√sum + eps)
using AdagradStepKernel = void(const Tensor& param, const Tensor& grad, const Tensor& sum,
                               const AdagradStepArgs& args);

// x [n] any float dtype; acc is an f64 scalar on x's device: acc += Σ xᵢ².
// The sum is formed in f64 over fixed blocks combined in a fixed order, so
// the result does not depend on the thread count.
using SumSquaresKernel = void(const Tensor& x, const Tensor& acc);
// x [n], in place: x = min(max(x, lo), hi); NaN stays NaN (torch.clamp_).
using ClampKernel = void(const Tensor& x, double lo, double hi);

KernelTable<SgdStepKernel>& sgd_step_kernels();
KernelTable<AdamStepKernel>& adam_step_kernels();
KernelTable<RmspropStepKernel>& rmsprop_step_kernels();
KernelTable<AdagradStepKernel>& adagrad_step_kernels();
KernelTable<SumSquaresKernel>& sum_squares_kernels();
KernelTable<ClampKernel>& clamp_kernels();

}  // namespace kiln
