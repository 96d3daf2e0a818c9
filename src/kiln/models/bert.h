#pragma once
// BERT: the bidirectional Transformer encoder of Devlin et al. 2019, with the
// two pretraining heads of Hugging Face's BertForPreTraining.
//
//   x = LN(word[ids] + position[0..T) + token_type[types])       embeddings
//   for each layer (post-LayerNorm):
//     x = LN(x + dense(attention(x, padding mask)))               bidirectional multi-head attention
//     x = LN(x + dense(gelu_erf(intermediate(x))))
//   pooled = tanh(pooler(x[:, 0]))                                the [CLS] vector
//   MLM:  LN(gelu_erf(transform(x))) · wordᵀ + bias               decoder tied to the word embeddings
//   NSP:  seq_relationship(pooled)                                 2 classes: is-next, random
//
// Parameter names are Hugging Face's without the "bert." prefix
// ("encoder.layer.0.attention.self.query.weight", "cls.predictions.bias");
// its Linear layers are [out, in] like kiln's, so checkpoints load as they are
// (models/bert_hf.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/nn/embedding.h"
#include "kiln/nn/layer_norm.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/module.h"

namespace kiln::models {

struct BertConfig {
  std::int64_t vocab_size = 30522;
  std::int64_t hidden_size = 768;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  /// Dropout on attention probabilities: the fused attention has none, so a
  /// model with a positive value runs in eval mode only (training throws).
  double attention_probs_dropout_prob = 0.0;

  /// Throws naming the first size that is not positive or does not divide.
  void validate() const;
  std::string str() const;
};

/// bert-base (110M) and the fixtures' 2-layer model.
BertConfig bert_base();
BertConfig bert_tiny();

class BertLayer : public nn::Module {
 public:
  BertLayer(const BertConfig& config, Generator& gen);
  /// x [B, T, H]; key_padding bool [B, T] (true = padding) or undefined.
  Tensor forward(const Tensor& x, const Tensor& key_padding);
  std::string name() const override { return "BertLayer"; }

 private:
  const BertConfig config_;
  Generator* gen_;
  std::shared_ptr<nn::Linear> query_, key_, value_, attn_out_, intermediate_, output_;
  std::shared_ptr<nn::LayerNorm> attn_norm_, output_norm_;
};

struct BertOutputs {
  Tensor hidden;      ///< last hidden state [B, T, H]
  Tensor pooled;      ///< tanh(pooler(hidden[:, 0])) [B, H]
};

class Bert : public nn::Module {
 public:
  /// Random initialisation as in BERT: N(0, 0.02) weights, zero biases, unit
  /// LayerNorm gains. `gen` must outlive the model (dropout draws from it).
  Bert(const BertConfig& config, Generator& gen);

  const BertConfig& config() const { return config_; }
  std::string name() const override { return "Bert(" + config_.str() + ")"; }

  /// ids i64 [B, T]; token_type_ids [B, T] (undefined: all 0); attention_mask
  /// [B, T] (nonzero = real token, 0 = padding; undefined: no padding).
  /// Refuses a sequence above max_position_embeddings, ids outside the
  /// vocabulary and token types outside type_vocab_size, naming the value.
  BertOutputs encode(const Tensor& ids, const Tensor& token_type_ids = Tensor(), const Tensor& attention_mask = Tensor());
  /// Masked-LM logits [B, T, V] from the hidden states.
  Tensor mlm_logits(const Tensor& hidden);
  /// Next-sentence logits [B, 2] from the pooled vector.
  Tensor nsp_logits(const Tensor& pooled);

  const Tensor& word_embeddings() const { return word_->weight(); }

 private:
  const BertConfig config_;
  Generator* gen_;
  std::shared_ptr<nn::Embedding> word_, position_, token_type_;
  std::shared_ptr<nn::LayerNorm> embed_norm_, mlm_norm_;
  std::vector<std::shared_ptr<BertLayer>> layers_;
  std::shared_ptr<nn::Linear> pooler_, mlm_transform_, seq_relationship_;
  Tensor mlm_bias_;
};

}  // namespace kiln::models
