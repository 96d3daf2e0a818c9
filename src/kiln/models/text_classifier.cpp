#include "kiln/models/text_classifier.h"

#include <string>

#include "kiln/ops/ops.h"

namespace kiln::models {

TextClassifier::TextClassifier(std::shared_ptr<Gpt> body, std::int64_t num_classes, Generator& gen, double dropout)
    : gpt_(std::move(body)), classes_(num_classes), dropout_(dropout), gen_(&gen) {
  if (!gpt_) throw Error("TextClassifier: no GPT body given");
  if (num_classes < 2) throw Error("TextClassifier: num_classes must be at least 2, got " + std::to_string(num_classes));
  body_ = register_module("body", gpt_);
  head_ = register_module("head", std::make_shared<nn::Linear>(gpt_->config().n_embd, num_classes, true, gen));
}

TextClassifier::TextClassifier(std::shared_ptr<Bert> body, std::int64_t num_classes, Generator& gen, double dropout)
    : bert_(std::move(body)), classes_(num_classes), dropout_(dropout), gen_(&gen) {
  if (!bert_) throw Error("TextClassifier: no BERT body given");
  if (num_classes < 2) throw Error("TextClassifier: num_classes must be at least 2, got " + std::to_string(num_classes));
  body_ = register_module("body", bert_);
  head_ = register_module("head", std::make_shared<nn::Linear>(bert_->config().hidden_size, num_classes, true, gen));
}

void TextClassifier::set_body_trainable(bool on) {
  body_->set_trainable(on);
  frozen_ = !on;
}

Tensor TextClassifier::features(const Tensor& ids, const Tensor& attention_mask) {
  if (bert_) return bert_->encode(ids, Tensor(), attention_mask).pooled;
  const Tensor h = gpt_->hidden(ids, attention_mask);  // [B, T, C]
  const std::int64_t B = ids.size(0), T = ids.size(1);
  // The last real token of each row (right padding): the one that has seen the whole text.
  std::vector<std::int64_t> last(static_cast<std::size_t>(B), T - 1);
  if (attention_mask.defined()) {
    const std::vector<std::int64_t> m = attention_mask.to(DType::i64).contiguous().to_vector<std::int64_t>();
    for (std::int64_t b = 0; b < B; ++b) {
      std::int64_t n = 0;
      for (std::int64_t t = 0; t < T; ++t) n += m[static_cast<std::size_t>(b * T + t)] != 0 ? 1 : 0;
      if (n == 0) throw Error("TextClassifier: row " + std::to_string(b) + " of the attention mask has no real token");
      last[static_cast<std::size_t>(b)] = n - 1;
    }
  }
  // Row b's feature is h[b, last[b]]: gather through a flat index.
  std::vector<std::int64_t> flat(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) flat[static_cast<std::size_t>(b)] = b * T + last[static_cast<std::size_t>(b)];
  return index_select(h.reshape({B * T, h.size(2)}), 0, Tensor::from_vector(flat, {B}).to(h.device()));
}

Tensor TextClassifier::forward(const Tensor& ids, const Tensor& attention_mask) {
  Tensor f;
  if (frozen_) {
    NoGradGuard no_grad;  // feature extraction: the body records nothing
    f = features(ids, attention_mask);
  } else {
    f = features(ids, attention_mask);
  }
  if (is_training() && dropout_ > 0.0) f = dropout(f, dropout_, true, *gen_);
  return (*head_)(f);
}

}  // namespace kiln::models
