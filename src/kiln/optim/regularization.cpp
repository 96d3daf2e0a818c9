#include "kiln/optim/regularization.h"

#include <sstream>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln::optim {

Tensor l1_l2_penalty(const std::vector<Tensor>& params, double l1, double l2) {
  const auto coefficient = [](const char* name, double v) {
    if (!(v >= 0.0)) {
      std::ostringstream s;
      s << "l1_l2_penalty: " << name << " must be >= 0, got " << v;
      throw Error(s.str());
    }
  };
  coefficient("l1", l1);
  coefficient("l2", l2);
  if (params.empty()) throw Error("l1_l2_penalty: got no tensors");
  const Tensor& first = params.front();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& w = params[i];
    if (!w.defined()) throw Error("l1_l2_penalty: tensor " + std::to_string(i) + " is undefined");
    if (!is_floating(w.dtype()) || w.dtype() != first.dtype() || w.device() != first.device()) {
      throw Error("l1_l2_penalty: tensor " + std::to_string(i) + " is " + w.str() + " on " + w.device().str() +
                  ", but tensor 0 is " + first.str() + " on " + first.device().str() +
                  " (all must share one floating-point dtype and device)");
    }
  }
  Tensor total;
  const auto accumulate = [&](const Tensor& term) { total = total.defined() ? add(total, term) : term; };
  for (const Tensor& w : params) {
    if (l1 != 0.0) accumulate(mul(sum(abs(w)), l1));
    if (l2 != 0.0) accumulate(mul(sum(square(w)), l2));
  }
  return total.defined() ? total : Tensor::scalar(0.0, first.dtype(), first.device());
}

}  // namespace kiln::optim
