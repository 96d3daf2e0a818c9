#pragma once
// Texts made into BERT pretraining data: each text is a document, split into
// sentences and WordPiece-encoded; batches of masked next-sentence pairs are
// drawn from it (bert_pretraining.h), each batch from its own seed so that a
// run can resume at any step without saving data-loader state.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/text/wordpiece.h"
#include "kiln/train/bert_pretraining.h"

namespace kiln::train {

/// Sentences of `text`: a break after . ! ? (and any closing quotes or
/// brackets) followed by white space, at a blank line, and before a line that
/// starts, after indentation, with "--" (a fortune's attribution). Pieces are
/// trimmed; empty ones are dropped.
std::vector<std::string> split_sentences(std::string_view text);

class BertCorpus {
 public:
  /// Encodes every text (a document) sentence by sentence; documents with no
  /// tokens are dropped. Throws when fewer than two documents remain (random
  /// next sentences need another document).
  BertCorpus(const std::vector<std::string>& texts, const text::WordPieceTokenizer& tokenizer);

  std::size_t documents() const { return docs_.size(); }
  std::int64_t tokens() const { return tokens_; }
  const BertSpecialIds& special() const { return special_; }

  /// batch_size pairs of at most max_len tokens, masked: each starts at a
  /// sentence drawn uniformly from those that have a next sentence in their
  /// document (or that are a whole one-sentence document).
  MaskedBatch sample(std::int64_t batch_size, std::int64_t max_len, Generator& gen) const;

 private:
  std::vector<std::vector<std::vector<std::int64_t>>> docs_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> starts_;  // (document, sentence)
  BertSpecialIds special_;
  std::int64_t vocab_size_ = 0, first_normal_id_ = 0, tokens_ = 0;
};

}  // namespace kiln::train
