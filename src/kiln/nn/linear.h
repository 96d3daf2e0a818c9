#pragma once
// Linear: y = x·Wᵀ + b, with PyTorch's default initialisation.
#include <cstdint>

#include "kiln/core/rng.h"
#include "kiln/nn/module.h"

namespace kiln::nn {

class Linear : public Layer {
 public:
  /// weight [out, in] and bias [out] (f32), both U(-1/√in, 1/√in) as in
  /// torch.nn.Linear (kaiming_uniform with a = √5), drawn from `gen`.
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator& gen);
  /// Same, drawing from default_generator().
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);

  Tensor forward(const Tensor& x) override;
  std::string name() const override;

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

  const Tensor& weight() const { return weight_; }
  /// Undefined when built with bias = false.
  const Tensor& bias() const { return bias_; }

 private:
  Tensor weight_;
  Tensor bias_;
  std::int64_t in_features_;
  std::int64_t out_features_;
};

}  // namespace kiln::nn
