#include "kiln/nn/module.h"

namespace kiln::nn {

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", recurse, out);
  return out;
}

void Module::collect(const std::string& prefix, bool recurse,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", true, out);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(this->name() + ": member name '" + name + "' must be non-empty and contain no '.'");
  }
  for (const auto& [n, p] : params_) {
    if (n == name) throw Error(this->name() + ": a parameter named '" + name + "' is already registered");
  }
  for (const auto& [n, c] : children_) {
    if (n == name) throw Error(this->name() + ": a child module named '" + name + "' is already registered");
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  if (!value.defined()) throw Error(this->name() + ": parameter '" + name + "' is undefined");
  value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  if (!module) throw Error(this->name() + ": child module '" + name + "' is null");
  children_.emplace_back(name, std::move(module));
}

}  // namespace kiln::nn
