#pragma once
// A character-level tokenizer over Unicode code points, for languages such as
// Chinese where characters are the natural unit. fit() counts the code points
// of a corpus; the vocabulary is the special tokens (ids 0..k-1) followed by
// the characters ordered by count (descending), ties by code point, so the
// result does not depend on the order of the corpus.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {

struct CharTokenizerOptions {
  /// Reserved tokens, given ids 0, 1, ... in this order.
  std::vector<std::string> special_tokens = {"<pad>", "<unk>"};
  /// Id given to characters outside the vocabulary; must be a special token.
  /// Without one, encoding an unknown character throws.
  std::optional<std::string> unk_token = "<unk>";
  /// Characters seen fewer times than this are left out.
  std::int64_t min_frequency = 1;
  /// Upper bound on the vocabulary size, special tokens included.
  std::optional<std::int64_t> max_vocab_size;
};

class CharTokenizer {
 public:
  explicit CharTokenizer(CharTokenizerOptions options = {});

  /// Adds the code points of `texts` to the counts and rebuilds the vocabulary.
  /// Texts must be UTF-8; an invalid byte throws naming the text and offset.
  void fit(std::span<const std::string> texts);

  std::vector<TokenId> encode(std::string_view text) const;
  /// UTF-8 of the characters; special tokens are written as their names unless skipped.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  std::size_t vocab_size() const { return special_.size() + chars_.size(); }
  std::optional<TokenId> char_to_id(char32_t cp) const;
  /// Character of a non-special id; throws for special or out-of-range ids.
  char32_t id_to_char(TokenId id) const;
  std::optional<TokenId> special_token_id(std::string_view name) const;
  const std::vector<char32_t>& chars() const { return chars_; }
  const CharTokenizerOptions& options() const { return options_; }

  /// JSON with the options and the characters in id order.
  void save(const std::string& path) const;
  static CharTokenizer load(const std::string& path);

 private:
  void rebuild();

  CharTokenizerOptions options_;
  std::vector<std::string> special_;
  std::optional<TokenId> unk_id_;
  std::unordered_map<char32_t, std::int64_t> counts_;
  std::vector<char32_t> chars_;  // id - special_.size() -> code point
  std::unordered_map<char32_t, TokenId> ids_;
};

}  // namespace kiln::text
