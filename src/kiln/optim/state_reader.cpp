#include "kiln/optim/state_reader.h"

namespace kiln::optim {

StateReader::StateReader(const nn::StateDict& state, std::string owner) : state_(state), owner_(std::move(owner)) {}

const Tensor* StateReader::find(const std::string& name) {
  asked_.insert(name);
  const Tensor* t = state_.find(name);
  if (t == nullptr) problems_.push_back("missing '" + name + "'");
  return t;
}

std::optional<double> StateReader::f64(const std::string& name) {
  const Tensor* t = find(name);
  if (t == nullptr) return std::nullopt;
  if (t->dtype() != DType::f64 || t->numel() != 1) {
    problems_.push_back("'" + name + "' is " + t->str() + ", expected a one-element f64 tensor");
    return std::nullopt;
  }
  return t->item();
}

std::optional<std::int64_t> StateReader::i64(const std::string& name) {
  const Tensor* t = find(name);
  if (t == nullptr) return std::nullopt;
  if (t->dtype() != DType::i64 || t->numel() != 1) {
    problems_.push_back("'" + name + "' is " + t->str() + ", expected a one-element i64 tensor");
    return std::nullopt;
  }
  return t->to_vector<std::int64_t>().front();
}

const Tensor* StateReader::tensor_like(const std::string& name, const Tensor& like) {
  const Tensor* t = find(name);
  if (t == nullptr) return nullptr;
  if (t->dtype() != like.dtype() || t->shape() != like.shape()) {
    problems_.push_back("'" + name + "' is " + t->str() + ", expected " + like.str());
    return nullptr;
  }
  return t;
}

void StateReader::expect_absent(const std::string& name, const std::string& why) {
  asked_.insert(name);
  if (state_.contains(name)) problems_.push_back("unexpected '" + name + "': " + why);
}

void StateReader::finish() const {
  std::vector<std::string> all = problems_;
  for (const auto& [name, t] : state_) {
    if (asked_.count(name) == 0) all.push_back("unexpected '" + name + "'");
  }
  if (all.empty()) return;
  std::string text;
  for (const std::string& p : all) text += (text.empty() ? "" : "; ") + p;
  throw Error(owner_ + ": " + text);
}

}  // namespace kiln::optim
