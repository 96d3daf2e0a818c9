#pragma once
// The LSTM LM as an IncrementalLm: the state (h, c) is the whole cache.
#include "kiln/generate/language_model.h"
#include "kiln/models/lstm_lm.h"
#include "kiln/nn/recurrent.h"

namespace kiln::generate {

class LstmLmAdapter : public IncrementalLm {
 public:
  /// `model` must outlive this object; it is switched to eval mode.
  explicit LstmLmAdapter(models::LstmLm& model);
  std::int64_t vocab_size() const override { return model_.config().vocab_size; }
  std::int64_t context() const override { return model_.context_length(); }
  Tensor prefill(const std::vector<std::int64_t>& prompt) override;
  Tensor step(const std::vector<std::int64_t>& from_rows, const std::vector<std::int64_t>& tokens) override;
  std::int64_t length() const override { return length_; }

 private:
  models::LstmLm& model_;
  nn::RnnState state_;
  std::int64_t length_ = 0;
};

}  // namespace kiln::generate
