#include "kiln/nn/dropout.h"

#include <string>

#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

Dropout::Dropout(double p, Generator& gen) : p_(p), gen_(&gen) {
  if (!(p >= 0.0 && p < 1.0)) throw Error("Dropout: p must be in [0, 1), got " + std::to_string(p));
}

Dropout::Dropout(double p) : Dropout(p, default_generator()) {}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), *gen_); }

std::string Dropout::name() const { return "Dropout(p=" + std::to_string(p_) + ")"; }

}  // namespace kiln::nn
