#include "kiln/generate/lstm_lm_adapter.h"

#include <string>

#include "kiln/ops/ops.h"

namespace kiln::generate {

LstmLmAdapter::LstmLmAdapter(models::LstmLm& model) : model_(model) { model_.eval(); }

Tensor LstmLmAdapter::prefill(const std::vector<std::int64_t>& prompt) {
  if (prompt.empty()) throw Error("generation: the prompt is empty (give at least one token)");
  state_ = {};
  length_ = static_cast<std::int64_t>(prompt.size());
  return model_.next_logits(Tensor::from_vector(prompt, {1, length_}), state_);
}

Tensor LstmLmAdapter::step(const std::vector<std::int64_t>& from_rows, const std::vector<std::int64_t>& tokens) {
  if (from_rows.size() != tokens.size() || tokens.empty()) {
    throw Error("generation step: " + std::to_string(from_rows.size()) + " rows for " + std::to_string(tokens.size()) +
                " tokens");
  }
  const auto n = static_cast<std::int64_t>(tokens.size());
  {
    NoGradGuard no_grad;
    const Tensor index = Tensor::from_vector(from_rows, {n});
    for (Tensor* s : {&state_.h, &state_.c}) {
      if (s->defined()) *s = index_select(*s, 1, index);  // [L, B, H]: rows are dim 1
    }
  }
  ++length_;
  return model_.next_logits(Tensor::from_vector(tokens, {n, 1}), state_);
}

}  // namespace kiln::generate
