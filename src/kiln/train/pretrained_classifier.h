#pragma once
// Transfer learning from a config: a pretrained BERT or GPT-2 in Hugging Face's
// layout (a directory with config.json, model.safetensors and its tokenizer —
// vocab.txt for BERT; tokenizer.json, or GPT-2's built-in vocabulary, for GPT)
// becomes the body of a models::TextClassifier that the Trainer fits like any
// one-input Layer: the input is token ids [B, T] right-padded with pad_id, and
// the attention mask is "id != pad_id".
//
//   [model]
//   pretrained = "runs/bert_fortunes/hf"
//   freeze_body = false     # true: feature extraction, only the head learns
//   dropout = 0.1           # on the pooled / last-token features
//   from_scratch = false    # true: the same architecture with random weights (a control run)
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/models/text_classifier.h"
#include "kiln/nn/module.h"

namespace kiln::train {

/// TextClassifier over padded ids: forward(ids) = classifier(ids, ids != pad_id).
class PaddedTextClassifier : public nn::Layer {
 public:
  PaddedTextClassifier(std::shared_ptr<models::TextClassifier> classifier, std::int64_t pad_id);
  Tensor forward(const Tensor& ids) override;
  std::string name() const override { return classifier_->name(); }

 private:
  std::shared_ptr<models::TextClassifier> classifier_;
  std::int64_t pad_id_;
};

struct PretrainedClassifierOptions {
  std::filesystem::path dir;
  std::int64_t num_classes = 2;
  bool freeze_body = false;
  double dropout = 0.1;
  bool from_scratch = false;
};

struct PretrainedClassifier {
  std::shared_ptr<PaddedTextClassifier> model;
  /// Text → ids of at most max_len tokens with the model's own special tokens
  /// (BERT: [CLS] text [SEP], the text truncated to fit).
  std::function<std::vector<std::int64_t>(const std::string& text, std::int64_t max_len)> encode;
  std::int64_t pad_id = 0;
  std::int64_t max_positions = 0;  ///< the longest input the body takes
  std::string description;         ///< "BERT from runs/x/hf (4 layers, ...)"
};

/// Reads `options.dir` (config.json says bert or gpt2) and builds the classifier.
/// Throws naming the directory and what is missing or unsupported.
PretrainedClassifier load_pretrained_classifier(const PretrainedClassifierOptions& options, Generator& gen);

}  // namespace kiln::train
