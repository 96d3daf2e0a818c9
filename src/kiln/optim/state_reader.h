#pragma once
// StateReader: the checks shared by every load_state_dict() in optim. It reads
// the entries a loader asks for, remembers each problem (missing, wrong dtype
// or shape) instead of stopping at the first, and finish() throws one Error
// naming all of them plus every entry nobody asked for.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "kiln/nn/state_dict.h"

namespace kiln::optim {

class StateReader {
 public:
  /// `owner` begins the error message, e.g. "Adam: load_state_dict".
  StateReader(const nn::StateDict& state, std::string owner);

  /// A one-element f64 entry, or nullopt (and a problem) when missing or of another kind.
  std::optional<double> f64(const std::string& name);
  /// A one-element i64 entry, or nullopt (and a problem) when missing or of another kind.
  std::optional<std::int64_t> i64(const std::string& name);
  /// An entry with exactly `like`'s dtype and shape, or null (and a problem).
  const Tensor* tensor_like(const std::string& name, const Tensor& like);
  /// `name` must not be present; `why` explains the problem if it is.
  void expect_absent(const std::string& name, const std::string& why);
  /// Accepts `name` unchecked (when a problem already reported makes its checks meaningless).
  void skip(const std::string& name) { asked_.insert(name); }
  void add_problem(std::string text) { problems_.push_back(std::move(text)); }

  /// Throws listing every problem and every entry not asked for; returns if there are none.
  void finish() const;

 private:
  const Tensor* find(const std::string& name);

  const nn::StateDict& state_;
  std::string owner_;
  std::unordered_set<std::string> asked_;
  std::vector<std::string> problems_;
};

}  // namespace kiln::optim
