#include "kiln/nn/linear.h"

#include <cmath>
#include <string>

#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool with_bias, Generator& gen)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0) {
    throw Error("Linear: in_features and out_features must be positive, got " + std::to_string(in_features) +
                " and " + std::to_string(out_features));
  }
  weight_ = register_parameter("weight", Tensor::empty({out_features, in_features}));
  init::kaiming_uniform_(weight_, gen, std::sqrt(5.0));
  if (with_bias) {
    bias_ = register_parameter("bias", Tensor::empty({out_features}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias_, -bound, bound, gen);
  }
}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool with_bias)
    : Linear(in_features, out_features, with_bias, default_generator()) {}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

std::string Linear::name() const {
  return "Linear(in=" + std::to_string(in_features_) + ", out=" + std::to_string(out_features_) +
         ", bias=" + (bias_.defined() ? "true" : "false") + ")";
}

}  // namespace kiln::nn
