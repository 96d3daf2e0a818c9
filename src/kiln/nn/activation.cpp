#include "kiln/nn/activation.h"

#include <string>
#include <utility>

#include "kiln/nn/format.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_, end_); }

std::string Flatten::name() const {
  return "Flatten(start_dim=" + std::to_string(start_) + ", end_dim=" + std::to_string(end_) + ")";
}

namespace {

// "(1, 28, 28)"; a single size prints as "(784,)", as Python prints a tuple.
std::string tuple_text(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_ == GeluApproximation::tanh); }

std::string GELU::name() const { return approximate_ == GeluApproximation::tanh ? "GELU(approximate=tanh)" : "GELU()"; }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor LeakyReLU::forward(const Tensor& x) {
  // where() sends the gradient to the branch it picked: 1 for x > 0, slope below.
  return where(gt(x, Tensor::scalar(0.0, x.dtype(), x.device())), x, mul(x, slope_));
}

std::string LeakyReLU::name() const { return "LeakyReLU(negative_slope=" + number_text(slope_) + ")"; }

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }

std::string Softmax::name() const { return "Softmax(dim=" + std::to_string(dim_) + ")"; }

Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim_); }

std::string LogSoftmax::name() const { return "LogSoftmax(dim=" + std::to_string(dim_) + ")"; }

Unflatten::Unflatten(std::int64_t dim, Shape sizes) : dim_(dim), sizes_(std::move(sizes)) {
  if (sizes_.empty()) throw Error("Unflatten: sizes must not be empty");
}

Tensor Unflatten::forward(const Tensor& x) {
  const std::int64_t d = wrap_dim(dim_, x.dim(), "Unflatten");
  Shape shape(x.shape().begin(), x.shape().begin() + d);
  shape.insert(shape.end(), sizes_.begin(), sizes_.end());
  shape.insert(shape.end(), x.shape().begin() + d + 1, x.shape().end());
  return reshape(x, shape);
}

std::string Unflatten::name() const {
  return "Unflatten(dim=" + std::to_string(dim_) + ", unflattened_size=" + tuple_text(sizes_) + ")";
}

Reshape::Reshape(Shape target_shape) : target_(std::move(target_shape)) {}

Tensor Reshape::forward(const Tensor& x) {
  if (x.dim() == 0) throw Error("Reshape: input must have a batch dim, got " + x.str());
  Shape shape{x.size(0)};
  shape.insert(shape.end(), target_.begin(), target_.end());
  return reshape(x, shape);
}

std::string Reshape::name() const { return "Reshape(target_shape=" + tuple_text(target_) + ")"; }

}  // namespace kiln::nn
