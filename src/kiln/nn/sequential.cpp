#include "kiln/nn/sequential.h"

#include <string>

namespace kiln::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Layer>> layers) {
  for (const auto& l : layers) push_back(l);
}

void Sequential::push_back(std::shared_ptr<Layer> layer) {
  register_module(std::to_string(size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor Sequential::forward(const Tensor& x, const Tensor& mask) {
  Tensor y = x;
  Tensor m = mask;
  for (const auto& layer : layers_) {
    // The mask for the next layer depends on this layer's input, so compute it first.
    Tensor next_mask = layer->compute_mask(y, m);
    y = (*layer)(y, m);
    m = std::move(next_mask);
  }
  return y;
}

Tensor Sequential::compute_mask(const Tensor& x, const Tensor& mask) const {
  // Asked without a forward pass, only the first layer sees a real input; the
  // rest get an undefined tensor (Layer::compute_mask documents this). Masks
  // start at the first layer in practice (Embedding with mask_zero).
  Tensor m = mask;
  for (std::size_t i = 0; i < layers_.size(); ++i) m = layers_[i]->compute_mask(i == 0 ? x : Tensor(), m);
  return m;
}

std::string Sequential::name() const {
  std::string s = "Sequential(";
  for (std::size_t i = 0; i < size(); ++i) s += (i ? ", " : "") + layers_[i]->name();
  return s + ")";
}

const std::shared_ptr<Layer>& Sequential::operator[](std::size_t i) const {
  if (i >= size()) {
    throw Error("Sequential: index " + std::to_string(i) + " out of range for " + std::to_string(size()) + " layers");
  }
  return layers_[i];
}

}  // namespace kiln::nn
