#pragma once
// A module that only names its children, like torch's ModuleList or a plain
// container module: it gives parameters the nested names checkpoints use
// ("encoder.layer.0.attention.self.query.weight") without a forward of its own.
#include <memory>
#include <string>
#include <utility>

#include "kiln/nn/module.h"

namespace kiln::nn {

class ModuleGroup : public Module {
 public:
  explicit ModuleGroup(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  template <class M>
  std::shared_ptr<M> add(const std::string& child, std::shared_ptr<M> m) {
    return register_module(child, std::move(m));
  }
  /// A parameter held directly by the group (BERT's cls.predictions.bias).
  Tensor add_parameter(const std::string& param, Tensor value) { return register_parameter(param, std::move(value)); }

 private:
  std::string name_;
};

}  // namespace kiln::nn
