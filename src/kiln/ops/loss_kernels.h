#pragma once
// Kernel tables of the fused losses (the loss family beside ops/kernels.h;
// the op layer is ops/losses.cpp). Each loss is one pass over its operands
// forward (plus the ordinary sum/mean reduction) and one pass backward, where
// composing elementwise ops would make 6–10 passes and as many temporaries.
//
// Conventions: "any strides" operands all have the output's shape, already
// broadcast (expanded, stride 0) by the op layer; "contiguous" operands are
// row-major dense. Per-row statistics (loss rows, log-sum-exp, row weights,
// KL rows) are in the statistics dtype: f64 for f64 inputs, else f32, so
// 16-bit inputs keep f32 precision where values are summed.
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

/// Pointwise regression losses of d = input - target. `param` is beta for
/// smooth_l1 and delta for huber (unused for l1).
///   l1:        |d|
///   smooth_l1: 0.5·d²/beta where |d| < beta, else |d| - 0.5·beta   (beta = 0 gives l1)
///   huber:     0.5·d² where |d| ≤ delta, else delta·(|d| - 0.5·delta)
enum class RegressionLoss : std::uint8_t { l1, smooth_l1, huber };
// input, target, out: one shape, any strides. out = loss(input - target).
using RegressionLossKernel = void(RegressionLoss kind, double param, const Tensor& input, const Tensor& target,
                                  const Tensor& out);
// grad, input, target, dinput: one shape, any strides (grad is often a
// broadcast scalar). dinput = grad·loss'(input - target); the target's
// gradient is its negation.
using RegressionLossBackwardKernel = void(RegressionLoss kind, double param, const Tensor& grad, const Tensor& input,
                                          const Tensor& target, const Tensor& dinput);

/// Binary cross-entropies, each multiplied by a per-element weight w:
///   probabilities: -(t·max(log p, -100) + (1-t)·max(log(1-p), -100))      (torch's clamp)
///   logits:        (1-t)·x + (1 + (pw-1)·t)·softplus(-x)                  (pw = pos_weight)
enum class BinaryLoss : std::uint8_t { probabilities, logits };
/// Which operand a backward pass differentiates.
enum class LossOperand : std::uint8_t { input, target };
// input, target, weight, pos_weight, out: one shape, any strides (weight and
// pos_weight are usually broadcast; the op layer passes a broadcast 1 where
// the caller gave none; pos_weight is ignored for `probabilities`).
using BinaryLossKernel = void(BinaryLoss kind, const Tensor& input, const Tensor& target, const Tensor& weight,
                              const Tensor& pos_weight, const Tensor& out);
// As the forward, plus grad (same shape, any strides); out = grad·∂loss/∂wrt.
//   probabilities, input:  w·(p - t) / max(p·(1-p), 1e-12)   (torch's formula)
//   probabilities, target: w·(max(log(1-p), -100) - max(log p, -100))
//   logits, input:         w·((1-t) - (1 + (pw-1)·t)·σ(-x))
//   logits, target:        w·(-x + (pw-1)·softplus(-x))
using BinaryLossBackwardKernel = void(BinaryLoss kind, LossOperand wrt, const Tensor& grad, const Tensor& input,
                                      const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                                      const Tensor& out);

/// Cross-entropy rows against a class distribution q, with per-class weights w:
///   loss_r = Σ_c w_c·q_rc·(lse_r - x_rc),  lse_r = log Σ_c exp(x_rc)
/// where q_r is the one-hot of target_index[r] or the row target_probs[r],
/// label-smoothed as q ← (1-ε)·q + ε/C. Rows whose index is ignore_index have loss 0.
struct CrossEntropyRows {
  Tensor logits{};        ///< [R, C] contiguous
  Tensor target_index{};  ///< i64 [R] contiguous, or undefined
  Tensor target_probs{};  ///< [R, C] contiguous, logits' dtype, or undefined (exactly one target is defined)
  Tensor weight{};        ///< [C] contiguous, logits' dtype, or undefined (every w_c = 1)
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};
// loss, lse [R] (statistics dtype). row_weight [R] (statistics dtype) is
// defined only with target_index: w[target] per row, 0 on ignored rows — the
// divisor of the mean, as torch's weighted nll_loss.
using CrossEntropyRowsKernel = void(const CrossEntropyRows& rows, const Tensor& loss, const Tensor& lse,
                                    const Tensor& row_weight);
// grad_row [R] contiguous (statistics dtype): the gradient of each row's loss.
//   dlogits [R, C]  = grad_r·((Σ_c w_c·q_rc)·softmax(x_r) - w·q_r)     (0 on ignored rows)
//   dtarget [R, C]  = grad_r·(1-ε)·w·(lse_r - x_r)   (probabilities only; undefined when not wanted)
using CrossEntropyRowsBackwardKernel = void(const CrossEntropyRows& rows, const Tensor& lse, const Tensor& grad_row,
                                            const Tensor& dlogits, const Tensor& dtarget);

// mean, log_var contiguous [B, D]; kl [B] (statistics dtype):
//   kl_b = -½·Σ_d (1 + log_var - mean² - exp(log_var)), the KL divergence of
//   N(mean, exp(log_var)) from N(0, 1) summed over the latent dimensions.
using KlNormalStandardKernel = void(const Tensor& mean, const Tensor& log_var, const Tensor& kl);
// grad_row [B] contiguous (statistics dtype); dmean, dlog_var [B, D] contiguous,
// either undefined when not wanted:
//   dmean = grad_b·mean,  dlog_var = grad_b·½·(exp(log_var) - 1)
using KlNormalStandardBackwardKernel = void(const Tensor& mean, const Tensor& log_var, const Tensor& grad_row,
                                            const Tensor& dmean, const Tensor& dlog_var);

KernelTable<RegressionLossKernel>& regression_loss_kernels();
KernelTable<RegressionLossBackwardKernel>& regression_loss_backward_kernels();
KernelTable<BinaryLossKernel>& binary_loss_kernels();
KernelTable<BinaryLossBackwardKernel>& binary_loss_backward_kernels();
KernelTable<CrossEntropyRowsKernel>& cross_entropy_rows_kernels();
KernelTable<CrossEntropyRowsBackwardKernel>& cross_entropy_rows_backward_kernels();
KernelTable<KlNormalStandardKernel>& kl_normal_standard_kernels();
KernelTable<KlNormalStandardBackwardKernel>& kl_normal_standard_backward_kernels();

}  // namespace kiln
