// Batch normalisation over the channel dim 1 of [N, C, ...], as fused kernels
// (ops/batch_norm_kernels.h): two passes forward, two backward, instead of the
// ten-odd passes of the same formula composed from elementwise ops.
//
// Training mode (or no running buffers): normalise with the batch mean and the
// biased batch variance over every dim but the channel dim, and — when the
// buffers exist — update them in place as PyTorch does:
//   running = momentum * batch_stat + (1 - momentum) * running,
// using the unbiased variance for running_var. Eval mode uses the running buffers.
//
// The backward is a kernel, not a composition of ops, so batch_norm is
// differentiable once (enough for training and gradient checks), like conv2d.
#include <string>

#include "kiln/ops/batch_norm_kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

KernelTable<BatchNormKernel>& batch_norm_kernels() {
  static KernelTable<BatchNormKernel> table("batch_norm");
  return table;
}

KernelTable<BatchNormBackwardKernel>& batch_norm_backward_kernels() {
  static KernelTable<BatchNormBackwardKernel> table("batch_norm_backward");
  return table;
}

namespace {

void check_channel_vector(const Tensor& t, const char* what, const Tensor& x, std::int64_t C) {
  if (!t.defined()) return;
  if (t.dim() != 1 || t.shape()[0] != C) {
    throw Error(std::string("batch_norm: ") + what + " " + t.str() + " must be [" + std::to_string(C) +
                "] for input " + x.str());
  }
  if (t.dtype() != x.dtype() || t.device() != x.device()) {
    throw Error(std::string("batch_norm: ") + what + " " + t.str() + " on " + t.device().str() +
                " does not match input " + x.str() + " on " + x.device().str());
  }
}

// A per-channel vector as the contiguous tensor a kernel reads, or undefined.
Tensor dense(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  if (!x.defined()) throw Error("batch_norm: undefined input");
  if (x.dim() < 2) throw Error("batch_norm: input must be [N, C, ...], got " + x.str());
  if (!is_floating(x.dtype())) throw Error("batch_norm: input must be floating point, got " + x.str());
  if (!(eps >= 0.0)) throw Error("batch_norm: eps must be non-negative, got " + std::to_string(eps));
  const std::int64_t N = x.shape()[0], C = x.shape()[1];
  check_channel_vector(running_mean, "running_mean", x, C);
  check_channel_vector(running_var, "running_var", x, C);
  check_channel_vector(weight, "weight", x, C);
  check_channel_vector(bias, "bias", x, C);
  if (running_mean.defined() != running_var.defined()) {
    throw Error("batch_norm: running_mean and running_var must be both defined or both undefined");
  }
  if (running_mean.requires_grad() || running_var.requires_grad()) {
    throw Error("batch_norm: running buffers are statistics, not parameters; they must not require grad");
  }
  // The kernel updates the buffers through their data pointers.
  for (const Tensor* r : {&running_mean, &running_var}) {
    if (r->defined() && !r->is_contiguous()) {
      throw Error("batch_norm: running buffers must be contiguous to be updated in place, got " + r->str());
    }
  }
  std::int64_t S = 1;
  for (std::int64_t d = 2; d < x.dim(); ++d) S *= x.shape()[d];
  const std::int64_t count = N * S;  // values per channel
  const bool batch_stats = training || !running_mean.defined();
  if (batch_stats && count <= 1 && C > 0) {
    throw Error("batch_norm: need more than 1 value per channel when using batch statistics, got input " + x.str());
  }
  const DType stat_dtype = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
  const Tensor x3 = x.detach().contiguous().view({N, C, S});
  const Tensor w = dense(weight);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor mean = Tensor::empty({C}, stat_dtype, x.device());
  const Tensor rstd = Tensor::empty({C}, stat_dtype, x.device());
  if (C > 0) {
    batch_norm_kernels().get(x.device(), x.dtype())(BatchNormForward{
        .x = x3, .weight = w, .bias = dense(bias), .running_mean = running_mean, .running_var = running_var,
        .batch_stats = batch_stats, .update_running = training && running_mean.defined(), .momentum = momentum,
        .eps = eps, .y = y.view({N, C, S}), .mean = mean, .rstd = rstd});
  }
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.requires_grad();
  const Shape in_shape = x.shape();
  return record(y, "batch_norm", {x, weight, bias},
                [x3, w, mean, rstd, batch_stats, need_x, need_w, need_b, in_shape](const Tensor& g) {
                  const Shape s3 = x3.shape();
                  const std::int64_t channels = s3[1];
                  Tensor dx = need_x ? Tensor::empty(s3, g.dtype(), g.device()) : Tensor();
                  Tensor dw = need_w ? Tensor::empty({channels}, g.dtype(), g.device()) : Tensor();
                  Tensor db = need_b ? Tensor::empty({channels}, g.dtype(), g.device()) : Tensor();
                  if (channels > 0) {
                    batch_norm_backward_kernels().get(g.device(), g.dtype())(BatchNormBackward{
                        .dy = g.contiguous().view(s3), .x = x3, .weight = w, .mean = mean, .rstd = rstd,
                        .batch_stats = batch_stats, .dx = dx, .dweight = dw, .dbias = db});
                  }
                  return std::vector<Tensor>{need_x ? dx.view(in_shape) : Tensor(), dw, db};
                });
}

}  // namespace kiln
