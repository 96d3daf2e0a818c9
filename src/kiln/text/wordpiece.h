#pragma once
// BERT's WordPiece tokenizer: bert_basic_tokenize, then greedy
// longest-match-first over the vocabulary with "##" continuation pieces.
// A word longer than max_input_chars_per_word code points, or one that cannot
// be covered by vocabulary pieces, becomes the single unknown token. Bytes
// that are not valid UTF-8 become one unknown token each (see bert_basic.h).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kiln/text/bert_basic.h"
#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {

struct WordPieceOptions {
  BertBasicOptions basic;
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
};

/// Ids and segment ids for a BERT model input.
struct BertEncoding {
  std::vector<TokenId> ids;
  std::vector<TokenId> token_type_ids;
};

class WordPieceTokenizer {
 public:
  /// vocab[i] is the token with id i.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {},
                     const std::string& source = "WordPiece vocabulary");
  /// BERT's vocab.txt: one token per line, id = 0-based line number.
  static WordPieceTokenizer from_vocab_file(const std::string& path, WordPieceOptions options = {});

  /// Word pieces of `text` (no [CLS]/[SEP]).
  std::vector<std::string> tokenize(std::string_view text) const;
  /// Ids of `text`. Special tokens ([CLS], [SEP], [PAD], [MASK], the unknown
  /// token) written in the text are recognised only where `allowed` says so.
  std::vector<TokenId> encode(std::string_view text, const AllowedSpecial& allowed = AllowedSpecial::none()) const;
  /// [CLS] a [SEP] (b [SEP]) with token types 0 for a's part and 1 for b's.
  BertEncoding encode_for_model(std::string_view a, std::optional<std::string_view> b = std::nullopt) const;
  /// Tokens joined by spaces, "##" pieces glued to the previous token.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  std::size_t vocab_size() const { return vocab_.size(); }
  std::optional<TokenId> token_to_id(std::string_view token) const;
  const std::string& id_to_token(TokenId id) const;
  TokenId unk_id() const { return unk_id_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  void wordpiece(const std::string& word, std::vector<TokenId>& out) const;
  TokenId required(const std::string& token) const;
  std::vector<std::string> special_tokens() const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, TokenId, detail::StringHash, std::equal_to<>> ids_;
  WordPieceOptions options_;
  TokenId unk_id_ = 0;
  std::string source_;
};

}  // namespace kiln::text
