#include "kiln/nn/state_dict.h"

namespace kiln::nn {

void StateDict::add(const std::string& name, Tensor value) {
  if (!value.defined()) throw Error("state dict: entry '" + name + "' is an undefined tensor");
  const auto [it, inserted] = index_.emplace(name, entries_.size());
  if (!inserted) throw Error("state dict: entry '" + name + "' is added twice");
  entries_.emplace_back(name, std::move(value));
}

const Tensor* StateDict::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Tensor& StateDict::at(const std::string& name, const std::string& what) const {
  const Tensor* t = find(name);
  if (t == nullptr) throw Error(what + ": no tensor named '" + name + "'");
  return *t;
}

StateDict StateDict::with_prefix_removed(const std::string& prefix) const {
  StateDict out;
  for (const auto& [name, t] : entries_) {
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0) out.add(name.substr(prefix.size()), t);
  }
  return out;
}

void StateDict::merge(const StateDict& other, const std::string& prefix) {
  for (const auto& [name, t] : other.entries_) add(prefix + name, t);
}

}  // namespace kiln::nn
