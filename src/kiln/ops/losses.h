#pragma once
// Loss functions beyond the core set in ops/ops.h (cross_entropy with class
// indices, mse_loss, binary_cross_entropy_with_logits, kl_div). Names, argument
// meanings and reductions follow torch.nn.functional (PyTorch 1.13); each loss
// is a fused kernel pass (ops/loss_kernels.h) with a hand-written backward.
//
// Reduction::mean divides by the number of elements unless a loss says
// otherwise; over zero elements it is an error, as kiln's mean (PyTorch gives
// NaN). Weight tensors are constants: passing one that requires grad is an
// error (detach it).
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/ops/ops.h"

namespace kiln {

// ---- regression -----------------------------------------------------------------
// input and target must have the same shape (no broadcasting), dtype and device.
// The gradient flows to both.

/// Mean absolute error |input - target| (torch.nn.functional.l1_loss). The
/// gradient at input == target is 0, as torch's sign.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

/// torch.nn.functional.smooth_l1_loss: 0.5·d²/beta where |d| < beta, else
/// |d| - 0.5·beta, with d = input - target. beta = 0 is l1_loss, including its
/// gradient 0 at d = 0 (torch 1.13 gives -1 there, from its `d <= -beta` branch);
/// beta < 0 is an error.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                      double beta = 1.0);

/// torch.nn.functional.huber_loss: 0.5·d² where |d| ≤ delta, else
/// delta·(|d| - 0.5·delta). delta must be positive.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean, double delta = 1.0);

// ---- binary cross-entropy -----------------------------------------------------------

struct BinaryCrossEntropyOptions {
  /// Multiplies each element's loss; must broadcast to the input's shape
  /// (torch's weight=). Undefined: every weight is 1.
  Tensor weight{};
  Reduction reduction = Reduction::mean;
};

/// torch.nn.functional.binary_cross_entropy on probabilities p ∈ [0, 1]:
///   -w·(t·max(log p, -100) + (1-t)·max(log(1-p), -100))
/// The clamp keeps p = 0 or 1 finite. The input's gradient is torch's
/// w·(p - t)/max(p·(1-p), 1e-12); the target's is w·(max(log(1-p), -100) - max(log p, -100)).
/// Values of p outside [0, 1] are not checked (that would need a device round
/// trip); they give NaN.
///   auto loss = binary_cross_entropy(sigmoid(z), t, {.reduction = Reduction::sum});
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const BinaryCrossEntropyOptions& options = {});

struct BinaryCrossEntropyWithLogitsOptions {
  /// Multiplies each element's loss; must broadcast to the input's shape.
  Tensor weight{};
  /// Weight of the positive term per class, broadcast to the input (usually
  /// [C] against [N, C]): > 1 raises recall, < 1 precision (torch's pos_weight=).
  Tensor pos_weight{};
  Reduction reduction = Reduction::mean;
};

/// torch.nn.functional.binary_cross_entropy_with_logits with weight and
/// pos_weight, fused: w·((1-t)·x + (1 + (pw-1)·t)·softplus(-x)), stable for any x.
///   auto loss = binary_cross_entropy_with_logits(z, t, {.pos_weight = pw});
/// (The two-tensor form without options is in ops/ops.h.)
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsOptions& options);

// ---- categorical cross-entropy ---------------------------------------------------------

struct CrossEntropyOptions {
  /// [C] per-class weights (torch's weight=, Keras' class_weight). Undefined: all 1.
  Tensor weight{};
  /// Class-index targets equal to this add nothing and are not counted.
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
};

/// torch.nn.functional.cross_entropy with all of its options. logits are [C],
/// [N, C] or [N, C, d...] (classes on dim 1). The target is either
///  - class indices (i64 or i32), shaped like logits without the class dim:
///      loss_r = Σ_c w_c·q_c·(lse_r - x_rc), q = (1-ε)·onehot(t_r) + ε/C;
///    Reduction::mean divides by Σ_r w[t_r] over rows not ignored (torch's rule;
///    without weights, the number of such rows);
///  - class probabilities (floating, the logits' shape, dtype and device), as
///    torch ≥ 1.10: q = (1-ε)·target + ε/C, ignore_index does not apply, and
///    Reduction::mean divides by the number of rows (N·d...), not by the weights.
///    The gradient flows to the target too (distillation against a learned teacher).
/// Example — Keras class_weight on a 3-class problem:
///   auto loss = cross_entropy(logits, labels, {.weight = Tensor::from_vector<float>({1, 5, 2}, {3})});
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options);

// ---- variational autoencoders -----------------------------------------------------------

/// KL(N(mean, exp(log_var)) ‖ N(0, 1)) = -½·Σ(1 + log_var - mean² - exp(log_var)),
/// summed over the latent dimensions (every dim but the first, the batch):
///   none → [B] (one value per sample), sum → total, mean → total / B
/// (the per-sample KL averaged over the batch, as the Keras VAE example).
/// mean and log_var must have the same shape, dtype and device, with at least one dim.
Tensor kl_normal_standard(const Tensor& mean, const Tensor& log_var, Reduction reduction = Reduction::mean);

}  // namespace kiln
