#pragma once
// Trains a byte-level BPE tokenizer the way Hugging Face tokenizers'
// BpeTrainer does with a ByteLevel pre-tokenizer and the full 256-byte
// initial alphabet (ByteLevelBPETokenizer.train):
//  * texts are split with the GPT-2 pattern and the pieces counted;
//  * ids: special tokens first, then the 256 byte characters ordered by code
//    point, then one id per merge;
//  * each step merges the most frequent adjacent pair (ties: the smallest
//    pair of ids), until the vocabulary reaches vocab_size, no pair is left,
//    or the best pair occurs fewer than min_frequency times.
// The result is a BpeTokenizer; save_tokenizer_json writes it in Hugging
// Face's tokenizer.json layout. If vocab_size is below the special tokens plus
// 256, no merges are learned and the vocabulary is larger than vocab_size.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {

struct BpeTrainerOptions {
  std::size_t vocab_size = 30000;
  /// Pairs seen fewer times than this are never merged (0 and 1 merge everything).
  std::int64_t min_frequency = 0;
  std::vector<std::string> special_tokens;
  /// Pre-tokenization (add_prefix_space, use_regex) used for training and kept in the tokenizer.
  BpeOptions pre_tokenizer;
};

class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options = {});

  /// Counts the pre-tokenized words of `texts` (may be called repeatedly).
  void feed(std::span<const std::string> texts);
  /// Adds `count` occurrences of one already pre-tokenized word (raw bytes).
  void add_word(std::string_view word, std::uint64_t count = 1);
  std::size_t distinct_words() const { return word_counts_.size(); }

  /// Learns the merges from everything fed so far.
  BpeTokenizer train() const;

 private:
  BpeTrainerOptions options_;
  std::unordered_map<std::string, std::uint64_t> word_counts_;
};

/// One-call convenience: feed `texts`, then train.
BpeTokenizer train_byte_level_bpe(std::span<const std::string> texts, const BpeTrainerOptions& options = {});

}  // namespace kiln::text
