#pragma once
// LayerNorm (torch.nn.LayerNorm): normalises over the trailing dims given by
// normalized_shape, on the fused layer_norm op.
#include <cstdint>
#include <string>

#include "kiln/nn/module.h"

namespace kiln::nn {

/// Options of LayerNorm, set by name: `LayerNorm({.normalized_shape = {768}, .eps = 1e-12})`.
struct LayerNormOptions {
  Shape normalized_shape = {};  ///< the input's trailing dims, required (e.g. {768})
  double eps = 1e-5;       ///< added to the variance
  bool elementwise_affine = true;  ///< learnable weight (ones) and bias (zeros) of shape normalized_shape
};

class LayerNorm : public Layer {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  /// Over the last dim of size `normalized_size`, other options at their defaults.
  explicit LayerNorm(std::int64_t normalized_size)
      : LayerNorm(LayerNormOptions{.normalized_shape = {normalized_size}}) {}

  /// x [..., normalized_shape] → the same shape.
  Tensor forward(const Tensor& x) override;
  /// "LayerNorm((768,), eps=1e-05, elementwise_affine=true)".
  std::string name() const override;

  const LayerNormOptions& options() const { return options_; }
  /// normalized_shape, f32; undefined without elementwise_affine.
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  LayerNormOptions options_;
  std::int64_t normalized_numel_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace kiln::nn
