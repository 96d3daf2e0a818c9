#pragma once
// Sequential: runs child modules in order; children are named "0", "1", ...
// so parameter names match torch.nn.Sequential's state_dict keys.
#include <cstddef>
#include <initializer_list>
#include <memory>

#include "kiln/nn/module.h"

namespace kiln::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  void push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  /// "Sequential(Linear(...), ReLU(), ...)".
  std::string name() const override;

  std::size_t size() const { return named_children().size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const;
};

}  // namespace kiln::nn
