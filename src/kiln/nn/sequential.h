#pragma once
// Sequential: runs child layers in order; children are named "0", "1", ...
// so parameter names match torch.nn.Sequential's state_dict keys. Masks flow
// between layers the Keras way: each layer receives the mask its predecessor
// computed (Embedding with mask_zero starts one, an LSTM consumes it).
#include <cstddef>
#include <initializer_list>
#include <memory>

#include "kiln/nn/module.h"

namespace kiln::nn {

class Sequential : public Layer {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Layer>> layers);

  void push_back(std::shared_ptr<Layer> layer);
  Tensor forward(const Tensor& x) override;
  Tensor forward(const Tensor& x, const Tensor& mask) override;
  Tensor compute_mask(const Tensor& x, const Tensor& mask) const override;
  /// "Sequential(Linear(...), ReLU(), ...)".
  std::string name() const override;

  std::size_t size() const { return layers_.size(); }
  const std::shared_ptr<Layer>& operator[](std::size_t i) const;

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace kiln::nn
