#pragma once
// Transfer learning: a classification head on a pretrained GPT or BERT body,
// trained with the body (full fine-tuning) or with the body frozen (feature
// extraction: only the head learns; the body runs without recording a graph).
//
//   GPT:  logits = head(dropout(h[last real token]))   (Hugging Face's GPT2ForSequenceClassification)
//   BERT: logits = head(dropout(pooled [CLS]))        (BertForSequenceClassification)
//
// The body is shared, not copied: load or pretrain it first, then wrap it.
// Parameters: "body.<the body's names>", "head.weight", "head.bias".
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/core/rng.h"
#include "kiln/models/bert.h"
#include "kiln/models/gpt.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/module.h"

namespace kiln::models {

class TextClassifier : public nn::Module {
 public:
  TextClassifier(std::shared_ptr<Gpt> body, std::int64_t num_classes, Generator& gen, double dropout = 0.1);
  TextClassifier(std::shared_ptr<Bert> body, std::int64_t num_classes, Generator& gen, double dropout = 0.1);
  std::string name() const override { return "TextClassifier(" + body_->name() + ", " + std::to_string(classes_) + " classes)"; }

  /// ids i64 [B, T] with attention_mask [B, T] (nonzero = real token; padding
  /// on the right for GPT) → logits [B, num_classes].
  Tensor forward(const Tensor& ids, const Tensor& attention_mask = Tensor());

  /// Freezes (false) or unfreezes (true) the body; the head stays trainable.
  void set_body_trainable(bool on);
  bool body_frozen() const { return frozen_; }
  std::int64_t num_classes() const { return classes_; }

 private:
  Tensor features(const Tensor& ids, const Tensor& attention_mask);

  std::shared_ptr<Gpt> gpt_;
  std::shared_ptr<Bert> bert_;
  std::shared_ptr<nn::Module> body_;
  std::shared_ptr<nn::Linear> head_;
  std::int64_t classes_;
  double dropout_;
  Generator* gen_;
  bool frozen_ = false;
};

}  // namespace kiln::models
