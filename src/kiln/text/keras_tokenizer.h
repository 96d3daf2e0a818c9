#pragma once
// Keras' text Tokenizer and pad_sequences with keras-preprocessing's exact
// semantics (the implementation behind tf.keras.preprocessing.text/.sequence):
//  * words are split like text_to_word_sequence: optional Python-style
//    lowercasing, every filter character replaced by `split`, then
//    str.split(split) with empty pieces dropped; char_level uses every code
//    point of the (lowercased) text, unfiltered;
//  * word_index ranks words by count, ties in first-seen order, from 1; an
//    oov_token takes index 1 — unless it also occurs in the texts, in which
//    case (as in Keras) its own rank overrides and index 1 is left unused;
//  * with num_words, indices >= num_words become the oov index (or vanish);
//  * matrices have num_words columns, else len(word_index) + 1.
// Lowercasing is Python's str.lower() (full mappings and the Final_Sigma rule).
// Texts must be UTF-8 (Python strings cannot hold other bytes); invalid
// UTF-8 throws an Error naming the text and byte offset.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/text/matrix.h"

namespace kiln::text {

/// Keras' default filters: punctuation except ', plus tab and newline.
inline constexpr std::string_view kKerasDefaultFilters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

struct KerasTokenizerConfig {
  /// Keep only indices < num_words in sequences and matrices; nullopt or 0 = no limit.
  std::optional<std::int64_t> num_words;
  std::string filters = std::string(kKerasDefaultFilters);
  bool lower = true;
  std::string split = " ";
  bool char_level = false;
  std::optional<std::string> oov_token;
};

enum class MatrixMode { binary, count, freq, tfidf };
/// "binary", "count", "freq" or "tfidf"; throws for anything else.
MatrixMode matrix_mode_from_name(std::string_view name);

/// keras_preprocessing.text.text_to_word_sequence.
std::vector<std::string> text_to_word_sequence(std::string_view text, std::string_view filters = kKerasDefaultFilters,
                                               bool lower = true, std::string_view split = " ");

class KerasTokenizer {
 public:
  explicit KerasTokenizer(KerasTokenizerConfig config = {});

  /// Updates counts and rebuilds word_index (may be called repeatedly).
  void fit_on_texts(std::span<const std::string> texts);
  /// Updates document frequencies from index sequences (for tfidf without texts).
  void fit_on_sequences(std::span<const std::vector<std::int64_t>> sequences);

  std::vector<std::vector<std::int64_t>> texts_to_sequences(std::span<const std::string> texts) const;
  /// Words joined by ' ' (ids without a word, or >= num_words without an oov token, are dropped).
  std::vector<std::string> sequences_to_texts(std::span<const std::vector<std::int64_t>> sequences) const;
  Matrix<double> texts_to_matrix(std::span<const std::string> texts, MatrixMode mode = MatrixMode::binary) const;
  Matrix<double> sequences_to_matrix(std::span<const std::vector<std::int64_t>> sequences,
                                     MatrixMode mode = MatrixMode::binary) const;

  const KerasTokenizerConfig& config() const { return config_; }
  const std::unordered_map<std::string, std::int64_t>& word_index() const { return word_index_; }
  /// Word counts in first-seen order.
  const std::vector<std::pair<std::string, std::int64_t>>& word_counts() const { return word_counts_; }
  /// Number of fitted documents containing each word.
  const std::unordered_map<std::string, std::int64_t>& word_docs() const { return word_docs_; }
  const std::unordered_map<std::int64_t, std::int64_t>& index_docs() const { return index_docs_; }
  std::int64_t document_count() const { return document_count_; }

 private:
  std::vector<std::string> tokens_of(std::string_view text, std::size_t index, const char* what) const;
  std::optional<std::int64_t> oov_index() const;

  KerasTokenizerConfig config_;
  std::u32string filters32_;
  std::u32string split32_;
  std::vector<std::pair<std::string, std::int64_t>> word_counts_;
  std::unordered_map<std::string, std::size_t> count_slot_;  // word -> position in word_counts_
  std::unordered_map<std::string, std::int64_t> word_docs_;
  std::unordered_map<std::string, std::int64_t> word_index_;
  std::unordered_map<std::int64_t, std::string> index_word_;
  std::unordered_map<std::int64_t, std::int64_t> index_docs_;
  std::int64_t document_count_ = 0;
  bool fitted_ = false;
};

/// keras_preprocessing.sequence.pad_sequences for integer sequences.
/// maxlen: nullopt = longest sequence. padding/truncating: "pre" or "post".
Matrix<std::int64_t> pad_sequences(std::span<const std::vector<std::int64_t>> sequences,
                                   std::optional<std::int64_t> maxlen = std::nullopt,
                                   std::string_view padding = "pre", std::string_view truncating = "pre",
                                   std::int64_t value = 0);

}  // namespace kiln::text
