#include "kiln/train/evaluate.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kiln/ops/ops.h"

namespace kiln::train {

std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || logits.size(0) != labels.size(0)) {
    throw Error("count_correct: expected logits [N, C] and labels [N], got " + logits.str() + " and " + labels.str());
  }
  const std::vector<std::int64_t> predicted = argmax(logits, 1).to_vector<std::int64_t>();
  const std::vector<std::int64_t> truth = labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i] ? 1 : 0;
  return correct;
}

double evaluate_accuracy(nn::Layer& model, const Tensor& inputs, const Tensor& labels, std::int64_t batch_size) {
  if (inputs.dim() == 0 || labels.dim() != 1 || inputs.size(0) != labels.size(0)) {
    throw Error("evaluate_accuracy: inputs " + inputs.str() + " and labels " + labels.str() +
                " must hold the same number of samples");
  }
  if (batch_size <= 0) throw Error("evaluate_accuracy: batch_size must be positive, got " + std::to_string(batch_size));
  const std::int64_t n = inputs.size(0);
  if (n == 0) throw Error("evaluate_accuracy: no samples to evaluate");
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  std::int64_t correct = 0;
  try {
    for (std::int64_t b = 0; b < n; b += batch_size) {
      const std::int64_t e = std::min(n, b + batch_size);
      correct += count_correct(model.forward(inputs.slice(0, b, e)), labels.slice(0, b, e));
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace kiln::train
