#pragma once
// An LSTM language model (Zaremba et al. 2014; Merity et al.'s weight tying):
//
//   x = dropout(embedding[ids]);  h = LSTM(x) (num_layers, dropout between layers)
//   logits = dropout(h) · Wᵀ      W = the embedding when tied (embedding_dim = hidden_size)
//
// The output head has no bias, so the tied head is exactly the embedding, and
// the loss runs through the chunked LM head (ops/lm_head_loss.h) like GPT's.
// Parameters: "embedding.weight", "lstm.weight_ih_l0" ... (PyTorch's names),
// and "head.weight" when untied.
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/core/rng.h"
#include "kiln/models/language_model.h"
#include "kiln/nn/embedding.h"
#include "kiln/nn/lstm.h"

namespace kiln::models {

struct LstmLmConfig {
  std::int64_t vocab_size = 0;
  std::int64_t embedding_dim = 256;
  std::int64_t hidden_size = 256;
  std::int64_t num_layers = 2;
  double dropout = 0.0;  ///< on the embeddings, between layers and on the top layer's output
  bool tie_weights = true;

  /// Throws naming the first bad size (tying needs embedding_dim = hidden_size).
  void validate() const;
  std::string str() const;
};

class LstmLm : public LanguageModel {
 public:
  LstmLm(const LstmLmConfig& config, Generator& gen);
  const LstmLmConfig& config() const { return config_; }
  std::string name() const override { return "LstmLm(" + config_.str() + ")"; }

  Tensor loss(const Tensor& ids, const Tensor& targets, std::int64_t ignore_index = -100) override;
  std::int64_t vocab_size() const override { return config_.vocab_size; }
  double train_flops_per_token(std::int64_t T) const override;
  std::string describe() const override { return "LSTM LM (" + config_.str() + ")"; }

  /// Incremental inference: runs ids [B, Tn] from `state` (undefined members:
  /// zeros), replaces `state` with the state after them, and returns the
  /// logits after the last id, [B, V].
  Tensor next_logits(const Tensor& ids, nn::RnnState& state);

  const Tensor& head_weight() const;

 private:
  /// Top-layer outputs [B, T, H] (training-mode dropout applied).
  Tensor hidden(const Tensor& ids, const nn::RnnState& initial, nn::RnnState* final_state);

  const LstmLmConfig config_;
  Generator* gen_;
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::LSTM> lstm_;
  Tensor head_;  // untied output weight [V, H], else undefined
};

}  // namespace kiln::models
