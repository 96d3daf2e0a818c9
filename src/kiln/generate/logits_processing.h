#pragma once
// Turning one row of next-token logits into a choice, in Hugging Face's order:
// repetition penalty, then (sampling only) temperature, top-k and top-p, then
// a draw. Host-side on purpose: one row of V floats per token.
#include <cstdint>
#include <span>
#include <vector>

#include "kiln/core/rng.h"

namespace kiln::generate {

/// CTRL's penalty as Hugging Face applies it: each token id present in
/// `seen` (prompt and generated, each counted once) has its logit divided by
/// `penalty` when positive, multiplied when negative. penalty 1 is a no-op.
void apply_repetition_penalty(std::span<float> logits, std::span<const std::int64_t> seen, double penalty);

/// Index of the largest logit (the lowest index among equals).
std::int64_t argmax_token(std::span<const float> logits);

struct SamplingOptions {
  double temperature = 1.0;  ///< > 0
  std::int64_t top_k = 0;    ///< keep the k most likely tokens; 0 = all
  double top_p = 1.0;        ///< keep the smallest most-likely set whose probability reaches p; 1 = all
};

/// The sampling distribution after temperature, top-k and top-p: probabilities
/// over the vocabulary that sum to 1, zero for removed tokens (at least the
/// most likely token is always kept).
std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& options);

/// One token drawn from `probs` (as returned above) with `gen`'s next uniform.
std::int64_t draw_token(std::span<const double> probs, Generator& gen);

/// log-softmax of one row, in f64 (beam scores add many of them).
std::vector<double> log_probabilities(std::span<const float> logits);

}  // namespace kiln::generate
