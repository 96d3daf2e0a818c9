#include "kiln/optim/clip_grad.h"

#include <cmath>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm >= 0.0)) throw Error("clip_grad_norm_: max_norm must be >= 0, got " + std::to_string(max_norm));
  NoGradGuard no_grad;
  double sum_sq = 0.0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) sum_sq += sum(mul(g, g)).item();
  }
  const double total = std::sqrt(sum_sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (g.defined()) mul_(g, coef);
    }
  }
  return total;
}

}  // namespace kiln::optim
