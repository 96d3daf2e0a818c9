#pragma once
// Parameter-free layers: activations and reshapes.
#include <cstdint>

#include "kiln/nn/module.h"

namespace kiln::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "ReLU()"; }
};

/// Flattens dims [start_dim, end_dim] into one (default keeps the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string name() const override;

 private:
  std::int64_t start_;
  std::int64_t end_;
};

}  // namespace kiln::nn
