#pragma once
// Module: the base of every layer (PyTorch C++-frontend style, kept simple).
// A module owns named parameters and named child modules; parameters() walks
// the tree in registration order so optimizers and checkpoints see a stable
// order and stable dotted names ("0.weight", "encoder.fc.bias").
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Parameters are shared handles: a copied module would silently alias them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The single-tensor forward pass every layer here provides.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  /// Short description, e.g. "Linear(in=784, out=512, bias=true)".
  virtual std::string name() const = 0;

  /// All parameters (own first, then children's, in registration order).
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// Parameters with dotted names relative to this module.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }

  /// Sets training mode here and in every descendant (affects Dropout, BatchNorm).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Drops the accumulated gradient of every parameter (PyTorch's set_to_none).
  void zero_grad();

 protected:
  /// Marks `value` as requiring grad and records it under `name`; returns the handle.
  Tensor register_parameter(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool recurse, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace kiln::nn
