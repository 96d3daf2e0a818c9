#pragma once
// GPT as an IncrementalLm: the prompt runs once through the model into a KV
// cache, each further token costs one position (models/gpt.h decode()).
#include "kiln/generate/language_model.h"
#include "kiln/models/gpt.h"

namespace kiln::generate {

class GptLm : public IncrementalLm {
 public:
  /// `model` must outlive this object; it is switched to eval mode.
  explicit GptLm(models::Gpt& model);
  std::int64_t vocab_size() const override { return model_.config().vocab_size; }
  std::int64_t context() const override { return model_.config().n_positions; }
  Tensor prefill(const std::vector<std::int64_t>& prompt) override;
  Tensor step(const std::vector<std::int64_t>& from_rows, const std::vector<std::int64_t>& tokens) override;
  std::int64_t length() const override { return cache_.length; }

 private:
  models::Gpt& model_;
  models::GptKvCache cache_;
};

}  // namespace kiln::generate
