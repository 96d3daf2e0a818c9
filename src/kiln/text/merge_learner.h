#pragma once
// The merge loop shared by the byte-level BPE trainer (bpe_trainer.h) and the
// WordPiece trainer (wordpiece_trainer.h) — both are Hugging Face's BpeTrainer
// underneath: words are sequences of symbol ids with a count; each step merges
// the most frequent adjacent pair (ties: the smallest pair of ids) into a new
// symbol, until the vocabulary reaches vocab_size, no pair is left, or the best
// pair occurs fewer than min_frequency times. Pair counts are updated
// incrementally from the words that held the merged pair.
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::text {

/// Symbols by id and id by symbol; ids are assigned in insertion order.
struct SymbolTable {
  std::vector<std::string> tokens;
  std::unordered_map<std::string, std::uint32_t> ids;

  /// The id of `token`, adding it first when new.
  std::uint32_t add(const std::string& token);
  std::size_t size() const { return tokens.size(); }
};

struct LearnedMerge {
  std::uint32_t left = 0, right = 0, merged = 0;
};

struct MergeLearnerOptions {
  std::size_t vocab_size = 30000;
  std::int64_t min_frequency = 0;
  /// The new symbol's text from its two parts (BPE: a + b; WordPiece drops b's "##").
  std::function<std::string(const std::string& left, const std::string& right)> join;
};

/// Learns merges over `words` (symbol ids into `symbols`) weighted by `counts`;
/// adds each merged symbol to `symbols` and returns the merges in order. The
/// words are rewritten in place to their final segmentation.
std::vector<LearnedMerge> learn_merges(std::vector<std::vector<std::uint32_t>>& words,
                                       const std::vector<std::int64_t>& counts, SymbolTable& symbols,
                                       const MergeLearnerOptions& options);

}  // namespace kiln::text
