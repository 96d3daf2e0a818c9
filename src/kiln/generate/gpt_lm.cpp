#include "kiln/generate/gpt_lm.h"

#include <numeric>
#include <string>

namespace kiln::generate {

GptLm::GptLm(models::Gpt& model) : model_(model) { model_.eval(); }

Tensor GptLm::prefill(const std::vector<std::int64_t>& prompt) {
  if (prompt.empty()) throw Error("generation: the prompt is empty (give at least one token)");
  const auto n = static_cast<std::int64_t>(prompt.size());
  if (n > context()) {
    throw Error("generation: the prompt has " + std::to_string(n) + " tokens, above the model's context of " +
                std::to_string(context()));
  }
  cache_ = model_.make_cache(1);
  return model_.decode(Tensor::from_vector(prompt, {1, n}).to(model_.wte().device()), cache_);
}

Tensor GptLm::step(const std::vector<std::int64_t>& from_rows, const std::vector<std::int64_t>& tokens) {
  if (from_rows.size() != tokens.size() || tokens.empty()) {
    throw Error("generation step: " + std::to_string(from_rows.size()) + " rows for " + std::to_string(tokens.size()) +
                " tokens");
  }
  std::vector<std::int64_t> identity(static_cast<std::size_t>(cache_.batch()));
  std::iota(identity.begin(), identity.end(), 0);
  if (from_rows != identity) cache_.reorder(from_rows);
  const auto n = static_cast<std::int64_t>(tokens.size());
  return model_.decode(Tensor::from_vector(tokens, {n, 1}).to(model_.wte().device()), cache_);
}

}  // namespace kiln::generate
