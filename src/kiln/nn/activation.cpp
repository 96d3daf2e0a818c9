#include "kiln/nn/activation.h"

#include <string>

#include "kiln/ops/ops.h"

namespace kiln::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_, end_); }

std::string Flatten::name() const {
  return "Flatten(start_dim=" + std::to_string(start_) + ", end_dim=" + std::to_string(end_) + ")";
}

}  // namespace kiln::nn
