#include "kiln/generate/logits_processing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_set>

#include "kiln/core/error.h"

namespace kiln::generate {

void apply_repetition_penalty(std::span<float> logits, std::span<const std::int64_t> seen, double penalty) {
  if (!(penalty > 0.0)) throw Error("repetition_penalty must be positive, got " + std::to_string(penalty));
  if (penalty == 1.0) return;
  std::unordered_set<std::int64_t> done;
  const auto p = static_cast<float>(penalty);
  for (const std::int64_t id : seen) {
    if (id < 0 || id >= static_cast<std::int64_t>(logits.size()) || !done.insert(id).second) continue;
    float& l = logits[static_cast<std::size_t>(id)];
    l = l > 0.0F ? l / p : l * p;
  }
}

std::int64_t argmax_token(std::span<const float> logits) {
  if (logits.empty()) throw Error("argmax over an empty vocabulary");
  return std::max_element(logits.begin(), logits.end()) - logits.begin();  // first of equals
}

std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& o) {
  if (!(o.temperature > 0.0)) throw Error("temperature must be positive for sampling, got " + std::to_string(o.temperature));
  if (o.top_k < 0) throw Error("top_k must be >= 0 (0 = off), got " + std::to_string(o.top_k));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) throw Error("top_p must be in (0, 1], got " + std::to_string(o.top_p));
  const std::size_t V = logits.size();
  if (V == 0) throw Error("sampling over an empty vocabulary");
  // Tokens by descending logit (stable: the lower id first among equals).
  std::vector<std::int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  const std::size_t k = o.top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(o.top_k), V) : V;
  const auto by_logit = [&](std::int64_t a, std::int64_t b) {
    const float la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  if (k < V || o.top_p < 1.0) {
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(o.top_p < 1.0 ? V : k), order.end(),
                      by_logit);
  }
  // Softmax at temperature over the top-k (the max first, for stability).
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs(V, 0.0);
  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const auto id = static_cast<std::size_t>(order[i]);
    const double e = std::exp((static_cast<double>(logits[id]) - top) / o.temperature);
    probs[id] = e;
    total += e;
  }
  std::size_t kept = k;
  if (o.top_p < 1.0) {  // the smallest prefix whose probability reaches top_p
    double cum = 0.0;
    for (std::size_t i = 0; i < k; ++i) {
      cum += probs[static_cast<std::size_t>(order[i])] / total;
      if (cum >= o.top_p) {
        kept = i + 1;
        break;
      }
    }
    for (std::size_t i = kept; i < k; ++i) probs[static_cast<std::size_t>(order[i])] = 0.0;
  }
  double sum = 0.0;
  for (std::size_t i = 0; i < kept; ++i) sum += probs[static_cast<std::size_t>(order[i])];
  for (double& p : probs) p /= sum;
  return probs;
}

std::int64_t draw_token(std::span<const double> probs, Generator& gen) {
  const double u = gen.next_double();
  double cum = 0.0;
  std::int64_t last = -1;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0) continue;
    cum += probs[i];
    last = static_cast<std::int64_t>(i);
    if (u < cum) return last;
  }
  if (last < 0) throw Error("sampling: every token has probability 0");
  return last;  // u within rounding of 1
}

std::vector<double> log_probabilities(std::span<const float> logits) {
  if (logits.empty()) throw Error("log-probabilities of an empty vocabulary");
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l) - top);
  const double lse = top + std::log(sum);
  std::vector<double> out(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
  return out;
}

}  // namespace kiln::generate
