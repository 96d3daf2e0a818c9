#include "kiln/nn/sequential.h"

#include <string>

namespace kiln::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(size()), std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& [name, child] : named_children()) y = child->forward(y);
  return y;
}

std::string Sequential::name() const {
  std::string s = "Sequential(";
  for (std::size_t i = 0; i < size(); ++i) s += (i ? ", " : "") + (*this)[i]->name();
  return s + ")";
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t i) const {
  if (i >= size()) {
    throw Error("Sequential: index " + std::to_string(i) + " out of range for " + std::to_string(size()) + " modules");
  }
  return named_children()[i].second;
}

}  // namespace kiln::nn
