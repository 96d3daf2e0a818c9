// Batch normalisation, composed from differentiable ops so autograd comes for free.
//
// Training mode (or no running buffers): normalise with the batch mean and the
// biased batch variance over every dim but the channel dim 1, and — when the
// buffers exist — update them in place as PyTorch does:
//   running = (1 - momentum) * running + momentum * batch_stat,
// using the unbiased variance for running_var. Eval mode uses the running buffers.
#include <string>

#include "kiln/ops/ops.h"

namespace kiln {

namespace {

void check_buffer(const Tensor& t, const char* what, const Tensor& x, std::int64_t C) {
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

}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  if (!x.defined()) throw Error("batch_norm: undefined input");
  if (x.dim() < 2) throw Error("batch_norm: input must be [N, C, ...], got " + x.str());
  if (!is_floating(x.dtype())) throw Error("batch_norm: input must be floating point, got " + x.str());
  const std::int64_t C = x.shape()[1];
  check_buffer(running_mean, "running_mean", x, C);
  check_buffer(running_var, "running_var", x, C);
  check_buffer(weight, "weight", x, C);
  check_buffer(bias, "bias", x, C);
  if (running_mean.defined() != running_var.defined()) {
    throw Error("batch_norm: running_mean and running_var must be both defined or both undefined");
  }
  if (running_mean.requires_grad() || running_var.requires_grad()) {
    throw Error("batch_norm: running buffers are statistics, not parameters; they must not require grad");
  }
  // Broadcast shape of a per-channel vector: [1, C, 1, ...].
  Shape bshape(static_cast<std::size_t>(x.dim()), 1);
  bshape[1] = C;
  std::vector<std::int64_t> dims{0};
  std::int64_t count = x.shape()[0];
  for (std::int64_t d = 2; d < x.dim(); ++d) {
    dims.push_back(d);
    count *= x.shape()[d];
  }

  const bool batch_stats = training || !running_mean.defined();
  Tensor xhat;
  if (batch_stats) {
    if (count <= 1) {
      throw Error("batch_norm: need more than 1 value per channel when using batch statistics, got input " +
                  x.str());
    }
    const Tensor mu = mean(x, dims, true);
    const Tensor centered = sub(x, mu);
    const Tensor var_b = mean(square(centered), dims, true);  // biased
    xhat = mul(centered, rsqrt(add(var_b, eps)));
    if (training && running_mean.defined()) {
      NoGradGuard guard;
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      mul_(running_mean, 1.0 - momentum);
      add_scaled_(running_mean, mu.detach().reshape({C}), momentum);
      mul_(running_var, 1.0 - momentum);
      add_scaled_(running_var, var_b.detach().reshape({C}), momentum * unbias);
    }
  } else {
    xhat = mul(sub(x, running_mean.reshape(bshape)), rsqrt(add(running_var.reshape(bshape), eps)));
  }
  Tensor y = weight.defined() ? mul(xhat, weight.reshape(bshape)) : xhat;
  return bias.defined() ? add(y, bias.reshape(bshape)) : y;
}

}  // namespace kiln
