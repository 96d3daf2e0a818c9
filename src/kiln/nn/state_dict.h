#pragma once
// StateDict: named tensors in a stable order (a module's parameters and
// buffers, an optimizer's moments). Insertion order is kept so a checkpoint
// lists tensors the way the model registered them; lookups are by name.
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::nn {

class StateDict {
 public:
  using Entry = std::pair<std::string, Tensor>;

  /// Adds `name`; throws if the name is already present.
  void add(const std::string& name, Tensor value);
  /// The tensor called `name`, or null.
  const Tensor* find(const std::string& name) const;
  /// The tensor called `name`; throws naming it (and `what`, e.g. the file) if absent.
  const Tensor& at(const std::string& name, const std::string& what = "state dict") const;
  bool contains(const std::string& name) const { return index_.count(name) != 0; }

  /// Entries whose name starts with `prefix`, with the prefix removed.
  StateDict with_prefix_removed(const std::string& prefix) const;
  /// Adds every entry of `other` under `prefix` + its name.
  void merge(const StateDict& other, const std::string& prefix = "");

  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace kiln::nn
