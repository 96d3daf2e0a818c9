#include "kiln/models/kneser_ney.h"

#include <cmath>
#include <string>

#include "kiln/core/error.h"

namespace kiln::models {

namespace {

// The ids of an n-gram, 16 bits each, with a leading 1 bit so that grams of
// different lengths never share a key.
std::uint64_t pack(const std::uint16_t* ids, int n) {
  std::uint64_t key = 1;
  for (int i = 0; i < n; ++i) key = (key << 16) | ids[i];
  return key;
}

void check_ids(std::span<const std::uint16_t> tokens, std::int64_t vocab, const char* what) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= vocab) {
      throw Error(std::string("n-gram LM: ") + what + " token at offset " + std::to_string(i) + " is id " +
                  std::to_string(tokens[i]) + ", outside the vocabulary of " + std::to_string(vocab));
    }
  }
}

}  // namespace

KneserNeyLm::KneserNeyLm(std::span<const std::uint16_t> tokens, std::int64_t vocab_size, int order)
    : order_(order), vocab_(vocab_size) {
  if (order < 1 || order > 4) throw Error("n-gram LM: order must be 1 to 4, got " + std::to_string(order));
  if (vocab_size < 1 || vocab_size > 65536) {
    throw Error("n-gram LM: the vocabulary must have 1 to 65,536 tokens, got " + std::to_string(vocab_size));
  }
  if (tokens.empty()) throw Error("n-gram LM: no training tokens");
  check_ids(tokens, vocab_size, "training");
  counts_.resize(static_cast<std::size_t>(order) + 1);
  contexts_.resize(static_cast<std::size_t>(order) + 1);
  discount_.assign(static_cast<std::size_t>(order) + 1, 0.0);
  // Raw counts of the highest order.
  auto& top = counts_[static_cast<std::size_t>(order)];
  for (std::size_t i = 0; i + static_cast<std::size_t>(order) <= tokens.size(); ++i) ++top[pack(&tokens[i], order)];
  // Continuation counts downwards: each distinct (k+1)-gram x·g adds one to c_k(g).
  // The stream's first k tokens have no left neighbour; they count as seen once
  // more, so every k-gram of the stream has a count.
  for (int k = order - 1; k >= 1; --k) {
    auto& lower = counts_[static_cast<std::size_t>(k)];
    for (const auto& [key, c] : counts_[static_cast<std::size_t>(k) + 1]) {
      static_cast<void>(c);
      const std::uint64_t suffix = (key & ((std::uint64_t{1} << (16 * k)) - 1)) | (std::uint64_t{1} << (16 * k));
      ++lower[suffix];
    }
    if (tokens.size() >= static_cast<std::size_t>(k)) ++lower[pack(&tokens[0], k)];
  }
  // Context totals, distinct followers and the discounts.
  for (int k = 1; k <= order; ++k) {
    std::uint64_t n1 = 0, n2 = 0;
    auto& ctx = contexts_[static_cast<std::size_t>(k)];
    for (const auto& [key, c] : counts_[static_cast<std::size_t>(k)]) {
      const std::uint64_t context = key >> 16;  // drop the last id; the marker bit stays
      ContextStats& s = ctx[context];
      s.total += c;
      ++s.distinct;
      n1 += c == 1 ? 1 : 0;
      n2 += c == 2 ? 1 : 0;
    }
    // Ney's estimate; 0.5 where the counts cannot give one (tiny corpora).
    const double d = (n1 > 0 && n2 > 0) ? static_cast<double>(n1) / static_cast<double>(n1 + 2 * n2) : 0.5;
    discount_[static_cast<std::size_t>(k)] = d;
  }
}

std::size_t KneserNeyLm::distinct_ngrams(int k) const {
  if (k < 1 || k > order_) throw Error("n-gram LM: order " + std::to_string(k) + " is outside 1.." + std::to_string(order_));
  return counts_[static_cast<std::size_t>(k)].size();
}

double KneserNeyLm::probability_at(int k, const std::uint16_t* ctx, int ctx_len, std::uint16_t w) const {
  if (k == 0) return 1.0 / static_cast<double>(vocab_);
  // Order k uses the last k−1 ids of the context.
  const std::uint16_t* h = ctx + (ctx_len - (k - 1));
  const double lower = probability_at(k - 1, ctx, ctx_len, w);
  const auto& contexts = contexts_[static_cast<std::size_t>(k)];
  const auto s = contexts.find(pack(h, k - 1));
  if (s == contexts.end() || s->second.total == 0) return lower;
  const auto& counts = counts_[static_cast<std::size_t>(k)];
  std::uint16_t gram[4];
  for (int i = 0; i < k - 1; ++i) gram[i] = h[i];
  gram[k - 1] = w;
  const auto c = counts.find(pack(gram, k));
  const double count = c == counts.end() ? 0.0 : static_cast<double>(c->second);
  const double d = discount_[static_cast<std::size_t>(k)];
  const auto total = static_cast<double>(s->second.total);
  return std::max(count - d, 0.0) / total + d * static_cast<double>(s->second.distinct) / total * lower;
}

double KneserNeyLm::probability(std::span<const std::uint16_t> context, std::uint16_t token) const {
  if (token >= vocab_) {
    throw Error("n-gram LM: token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(vocab_));
  }
  check_ids(context, vocab_, "context");
  const int usable = static_cast<int>(std::min<std::size_t>(context.size(), static_cast<std::size_t>(order_ - 1)));
  return probability_at(usable + 1, context.data() + (context.size() - static_cast<std::size_t>(usable)), usable, token);
}

double KneserNeyLm::cross_entropy(std::span<const std::uint16_t> tokens) const {
  check_ids(tokens, vocab_, "evaluation");
  if (tokens.size() < 2) throw Error("n-gram LM: evaluation needs at least 2 tokens, got " + std::to_string(tokens.size()));
  double nll = 0.0;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const int usable = static_cast<int>(std::min<std::size_t>(i, static_cast<std::size_t>(order_ - 1)));
    nll -= std::log(probability_at(usable + 1, tokens.data() + (i - static_cast<std::size_t>(usable)), usable, tokens[i]));
  }
  return nll / static_cast<double>(tokens.size() - 1);
}

}  // namespace kiln::models
