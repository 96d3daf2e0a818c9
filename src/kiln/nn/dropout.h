#pragma once
// Dropout: inverted dropout in training mode, identity in eval mode.
#include "kiln/core/rng.h"
#include "kiln/nn/module.h"

namespace kiln::nn {

class Dropout : public Layer {
 public:
  /// Draws masks from `gen`, which must outlive the module.
  Dropout(double p, Generator& gen);
  /// Draws masks from default_generator().
  explicit Dropout(double p = 0.5);

  Tensor forward(const Tensor& x) override;
  std::string name() const override;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;  // not owned
};

}  // namespace kiln::nn
