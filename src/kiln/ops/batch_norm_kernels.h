#pragma once
// Kernel tables of the fused batch normalisation (the batch-norm family beside
// ops/kernels.h). Composed from elementwise ops and reductions, batch norm
// makes about ten passes over the activations forward and more backward; the
// fused kernels make two each way:
//   forward:  one pass for a channel's mean and variance, one to normalise,
//             scale and shift (eval mode needs only the second);
//   backward: one pass for the two per-channel sums Σdy and Σdy·(x - mean),
//             one to write dx.
//
// Shapes: the op layer (ops/batch_norm.cpp) views the input [N, C, ...] as a
// contiguous [N, C, S] (S = product of the dims after the channel dim). Every
// tensor handed to a kernel is contiguous; per-channel vectors are [C].
// weight, bias, running_mean and running_var share x's dtype; mean and rstd
// are in the statistics dtype (f64 for f64 input, f32 otherwise). An
// undefined tensor means "absent" (no affine transform, no running buffers,
// gradient not wanted).
#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

struct BatchNormForward {
  Tensor x{};             ///< [N, C, S]
  Tensor weight{};        ///< [C] or undefined (scale 1)
  Tensor bias{};          ///< [C] or undefined (shift 0)
  /// [C] or undefined. When batch_stats is false they are what the input is
  /// normalised with; when update_running is true they are updated in place:
  ///   running = momentum·batch_stat + (1 - momentum)·running,
  /// with the unbiased variance (PyTorch's convention and operation order).
  Tensor running_mean{};
  Tensor running_var{};
  bool batch_stats = true;      ///< normalise with this batch's mean and biased variance
  bool update_running = false;  ///< requires batch_stats and both running buffers
  double momentum = 0.1;
  double eps = 1e-5;
  Tensor y{};     ///< [N, C, S] out
  Tensor mean{};  ///< [C] out: the mean the normalisation used (kept for backward)
  Tensor rstd{};  ///< [C] out: 1/√(var + eps) the normalisation used
};

/// The adjoint of BatchNormForward, given the mean and rstd it saved. With
/// batch statistics (M = N·S values per channel, x̂ = (x - mean)·rstd):
///   dx = weight·rstd·(dy - Σdy/M - x̂·Σ(dy·x̂)/M)
/// and with fixed (running) statistics dx = weight·rstd·dy. In both cases
/// dweight = Σ(dy·x̂) and dbias = Σdy over N and S.
struct BatchNormBackward {
  Tensor dy{};      ///< [N, C, S]
  Tensor x{};       ///< [N, C, S] the forward input
  Tensor weight{};  ///< [C] or undefined (scale 1)
  Tensor mean{};    ///< [C] from the forward kernel
  Tensor rstd{};    ///< [C] from the forward kernel
  bool batch_stats = true;  ///< whether mean and rstd were computed from x
  Tensor dx{};       ///< [N, C, S] out, or undefined when not wanted
  Tensor dweight{};  ///< [C] out, or undefined when not wanted
  Tensor dbias{};    ///< [C] out, or undefined when not wanted
};

using BatchNormKernel = void(const BatchNormForward& args);
using BatchNormBackwardKernel = void(const BatchNormBackward& args);

KernelTable<BatchNormKernel>& batch_norm_kernels();
KernelTable<BatchNormBackwardKernel>& batch_norm_backward_kernels();

}  // namespace kiln
