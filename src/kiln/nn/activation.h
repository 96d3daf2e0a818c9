#pragma once
// Parameter-free layers: activations and reshapes.
#include <cstdint>

#include "kiln/nn/module.h"

namespace kiln::nn {

class ReLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ReLU()"; }
};

/// Flattens dims [start_dim, end_dim] into one (default keeps the batch dim).
class Flatten : public Layer {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  std::int64_t start_;
  std::int64_t end_;
};

class Sigmoid : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Sigmoid()"; }
};

class Tanh : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "Tanh()"; }
};

/// GELU's two forms: exact (erf, BERT) or the tanh approximation (GPT-2).
enum class GeluApproximation : std::uint8_t { none, tanh };

class GELU : public Layer {
 public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::none) : approximate_(approximate) {}
  Tensor forward(const Tensor& x) override;
  /// "GELU()" or "GELU(approximate=tanh)".
  std::string name() const override;

 private:
  GeluApproximation approximate_;
};

/// x·σ(x) (also called swish).
class SiLU : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "SiLU()"; }
};

/// x for x > 0, negative_slope·x otherwise.
class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  double slope_;
};

/// Softmax along `dim` (default: the last).
class Softmax : public Layer {
 public:
  explicit Softmax(std::int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  std::int64_t dim_;
};

/// Log-softmax along `dim` (default: the last).
class LogSoftmax : public Layer {
 public:
  explicit LogSoftmax(std::int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  std::int64_t dim_;
};

/// Splits dim `dim` into `sizes` (torch.nn.Unflatten): Unflatten(1, {1, 28, 28})
/// turns [N, 784] into [N, 1, 28, 28], and Unflatten(1, {1, 28}) turns images
/// [N, 28, 28] into [N, 1, 28, 28]. One size may be -1 (inferred).
class Unflatten : public Layer {
 public:
  Unflatten(std::int64_t dim, Shape sizes);
  Tensor forward(const Tensor& x) override;
  /// "Unflatten(dim=1, unflattened_size=(1, 28, 28))".
  std::string name() const override;

 private:
  std::int64_t dim_;
  Shape sizes_;
};

/// Reshapes every sample, keeping the batch dim (Keras' Reshape): Reshape({7, 7, 64})
/// turns [N, 3136] into [N, 7, 7, 64]. One size may be -1 (inferred).
class Reshape : public Layer {
 public:
  explicit Reshape(Shape target_shape);
  Tensor forward(const Tensor& x) override;
  /// "Reshape(target_shape=(7, 7, 64))".
  std::string name() const override;

 private:
  Shape target_;
};

}  // namespace kiln::nn
