#include "kiln/optim/clip_grad.h"

#include <cmath>
#include <string>

#include "kiln/autograd/node.h"
#include "kiln/nn/format.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/fused_updates.h"

namespace kiln::optim {

double grad_norm(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (const Tensor g = p.grad(); g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  // One accumulator per device: every gradient adds its sum of squares on its own device.
  std::vector<Tensor> accumulators;
  for (const Tensor& g : grads) {
    Tensor* acc = nullptr;
    for (Tensor& a : accumulators) {
      if (a.device() == g.device()) acc = &a;
    }
    if (acc == nullptr) acc = &accumulators.emplace_back(Tensor::zeros({}, DType::f64, g.device()));
    sum_squares_accumulate_(g, *acc);
  }
  double sum_sq = 0.0;
  for (const Tensor& a : accumulators) sum_sq += a.item();  // the one read back (per device)
  return std::sqrt(sum_sq);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, const ClipGradNormOptions& options) {
  if (!(max_norm >= 0.0)) {
    throw Error("clip_grad_norm_: max_norm must be >= 0, got " + nn::number_text(max_norm));
  }
  NoGradGuard no_grad;
  const double total = grad_norm(params);
  if (options.error_if_nonfinite && !std::isfinite(total)) {
    throw Error("clip_grad_norm_: the total norm of the gradients is " + nn::number_text(total) +
                "; the gradients cannot be clipped (set error_if_nonfinite = false to scale by it anyway)");
  }
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1.0)) {  // torch multiplies by min(coef, 1): a NaN coef spreads, as there
    for (const Tensor& p : params) {
      if (Tensor g = p.grad(); g.defined()) mul_(g, coef);
    }
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0.0)) {
    throw Error("clip_grad_value_: clip_value must be >= 0, got " + nn::number_text(clip_value));
  }
  for (const Tensor& p : params) {
    if (const Tensor g = p.grad(); g.defined()) clamp_(g, -clip_value, clip_value);
  }
}

}  // namespace kiln::optim
