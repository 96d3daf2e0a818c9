#include "kiln/nn/layer_norm.h"

#include <algorithm>
#include <string>

#include "kiln/nn/format.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options), normalized_numel_(1) {
  const Shape& shape = options_.normalized_shape;
  if (shape.empty() || std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d <= 0; })) {
    throw Error("LayerNorm: normalized_shape must be non-empty with positive sizes, got " + shape_str(shape));
  }
  if (!(options_.eps >= 0.0)) throw Error("LayerNorm: eps must be ≥ 0, got " + number_text(options_.eps));
  for (const std::int64_t d : shape) normalized_numel_ *= d;
  if (options_.elementwise_affine) {
    weight_ = register_parameter("weight", Tensor::ones(shape));
    bias_ = register_parameter("bias", Tensor::zeros(shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  const Shape& norm = options_.normalized_shape;
  const auto k = static_cast<std::int64_t>(norm.size());
  if (!x.defined() || x.dim() < k || !std::equal(norm.begin(), norm.end(), x.shape().end() - k)) {
    throw Error(name() + ": the input's trailing dims must be " + shape_str(norm) + ", got " +
                (x.defined() ? x.str() : std::string("an undefined tensor")));
  }
  if (k == 1) return layer_norm(x, weight_, bias_, options_.eps);
  // The op normalises over the last dim: fold the normalised dims into one.
  Shape folded(x.shape().begin(), x.shape().end() - k);
  folded.push_back(normalized_numel_);
  const Tensor w = weight_.defined() ? weight_.reshape({normalized_numel_}) : Tensor();
  const Tensor b = bias_.defined() ? bias_.reshape({normalized_numel_}) : Tensor();
  return layer_norm(x.reshape(folded), w, b, options_.eps).reshape(x.shape());
}

std::string LayerNorm::name() const {
  std::string dims;
  for (const std::int64_t d : options_.normalized_shape) dims += std::to_string(d) + ", ";
  if (options_.normalized_shape.size() > 1) dims.resize(dims.size() - 2);  // "(4, 5)" but "(768,)"
  else dims.resize(dims.size() - 1);
  return "LayerNorm((" + dims + "), eps=" + number_text(options_.eps) +
         ", elementwise_affine=" + (options_.elementwise_affine ? "true" : "false") + ")";
}

}  // namespace kiln::nn
