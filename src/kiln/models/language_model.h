#pragma once
// What language-model training and evaluation need from a model, whatever its
// architecture (GPT, LSTM): next-token loss over a batch of windows, and its
// sizes. train/lm_trainer.h and task "lm" work through this interface only.
#include <cstdint>
#include <limits>
#include <string>

#include "kiln/core/tensor.h"
#include "kiln/nn/module.h"

namespace kiln::models {

class LanguageModel : public nn::Module {
 public:
  /// Mean next-token cross-entropy of targets i64 [B, T] given ids [B, T]
  /// (positions equal to ignore_index are skipped).
  virtual Tensor loss(const Tensor& ids, const Tensor& targets, std::int64_t ignore_index = -100) = 0;
  virtual std::int64_t vocab_size() const = 0;
  /// The longest window the model takes (no limit: int64 max).
  virtual std::int64_t context_length() const { return std::numeric_limits<std::int64_t>::max(); }
  /// Training FLOPs per token at window length T (forward + backward), for MFU.
  virtual double train_flops_per_token(std::int64_t T) const = 0;
  /// One line for logs: the architecture and its sizes.
  virtual std::string describe() const = 0;
};

}  // namespace kiln::models
