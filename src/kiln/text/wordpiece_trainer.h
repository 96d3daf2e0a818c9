#pragma once
// Trains a WordPiece vocabulary the way Hugging Face tokenizers'
// WordPieceTrainer does (BertWordPieceTokenizer.train): it is BPE training
// over BERT-normalised words with a "##" continuation prefix —
//  * texts go through bert_basic_tokenize (clean, CJK split, accents, lowercase,
//    punctuation split) and the words are counted;
//  * ids: the special tokens first, then the alphabet (the limit_alphabet most
//    frequent characters, ordered by code point; rarer characters are left out
//    and become [UNK] when encoding), then the "##" forms of characters as they
//    first occur inside words, then one token per merge;
//  * merges as bpe_trainer.h (most frequent pair, ties to the smallest ids);
//    merging a with ##b gives "ab", ##a with ##b gives "##ab".
// The result is a WordPieceTokenizer; save_vocab_file writes BERT's vocab.txt.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/text/bert_basic.h"
#include "kiln/text/wordpiece.h"

namespace kiln::text {

struct WordPieceTrainerOptions {
  std::size_t vocab_size = 30000;
  /// Pairs seen fewer times than this are never merged (0 and 1 merge everything).
  std::int64_t min_frequency = 0;
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  /// At most this many distinct characters are kept (the most frequent).
  std::size_t limit_alphabet = 1000;
  /// Normalisation and pre-tokenization, for training and in the tokenizer.
  WordPieceOptions tokenizer;
};

class WordPieceTrainer {
 public:
  /// Throws when a special token is empty or repeated, or when the tokenizer's
  /// [UNK]/[CLS]/[SEP]/[PAD]/[MASK] are not among the special tokens.
  explicit WordPieceTrainer(WordPieceTrainerOptions options = {});

  /// Counts the words of `texts` (may be called repeatedly).
  void feed(std::span<const std::string> texts);
  std::size_t distinct_words() const { return word_counts_.size(); }

  /// The vocabulary learned from everything fed so far (token i has id i).
  std::vector<std::string> train_vocab() const;
  /// train_vocab() as a tokenizer.
  WordPieceTokenizer train() const;

 private:
  WordPieceTrainerOptions options_;
  std::unordered_map<std::string, std::uint64_t> word_counts_;
};

/// Writes the tokenizer's vocabulary as BERT's vocab.txt (one token per line,
/// id = line number), atomically. Throws for a token holding a line break.
void save_vocab_file(const WordPieceTokenizer& tokenizer, const std::filesystem::path& path);

}  // namespace kiln::text
