#pragma once
// An n-gram language model with interpolated Kneser-Ney smoothing (Chen &
// Goodman 1998, one discount per order): the baseline the neural LMs are
// measured against. Counts come from a flat token stream (kiln's token files,
// documents separated by an end-of-text id), so its perplexity is computed on
// the same held-out tokens as a GPT's.
//
//   p_k(w | h) = max(c_k(h w) − D_k, 0) / c_k(h •) + D_k · N1+(h •) / c_k(h •) · p_{k−1}(w | h')
//   p_0(w)     = 1 / V                            (every token keeps some mass)
//
// c_N are raw counts; lower orders use continuation counts c_k(g) = N1+(• g),
// the number of distinct tokens seen before g. D_k = n1 / (n1 + 2·n2) from the
// k-grams seen once and twice. A context never seen backs off entirely.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace kiln::models {

class KneserNeyLm {
 public:
  /// Up to order 4 over vocabularies up to 65,536 tokens (an n-gram packs
  /// into 64 bits); ids ≥ vocab_size are refused naming their offset.
  KneserNeyLm(std::span<const std::uint16_t> tokens, std::int64_t vocab_size, int order);

  int order() const { return order_; }
  std::int64_t vocab_size() const { return vocab_; }
  /// D_k for k = 1..order.
  std::vector<double> discounts() const { return {discount_.begin() + 1, discount_.end()}; }
  /// Distinct n-grams of order k = 1..order seen in training.
  std::size_t distinct_ngrams(int k) const;

  /// p(token | the last order−1 ids of context; fewer at a stream's start).
  double probability(std::span<const std::uint16_t> context, std::uint16_t token) const;
  /// Mean −ln p over tokens[1..] of a stream, each given the tokens before it
  /// (token 0 has no history and is not scored). ids are checked like training's.
  double cross_entropy(std::span<const std::uint16_t> tokens) const;

 private:
  struct ContextStats {
    std::uint64_t total = 0;     // c_k(h •)
    std::uint64_t distinct = 0;  // N1+(h •)
  };
  double probability_at(int k, const std::uint16_t* ctx, int ctx_len, std::uint16_t w) const;

  int order_;
  std::int64_t vocab_;
  std::vector<double> discount_;  // [order + 1], index 0 unused
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> counts_;   // [k]: k-gram -> c_k
  std::vector<std::unordered_map<std::uint64_t, ContextStats>> contexts_;  // [k]: (k−1)-gram -> stats
};

}  // namespace kiln::models
