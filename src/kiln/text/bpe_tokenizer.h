#pragma once
// Byte-level BPE, the tokenizer of GPT-2 and of Hugging Face's ByteLevel BPE
// models. Produces the same ids as GPT-2's encoder.py and as Hugging Face
// tokenizers with a ByteLevel pre-tokenizer.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::io {
class GgufFile;
struct GgufValue;
}  // namespace kiln::io

namespace kiln::text {

using TokenId = std::int64_t;

namespace detail {
class PairMap;
class WordCache;
class WordCacheHolder;
/// Lets unordered maps keyed by std::string be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
}  // namespace detail

/// A token matched in the raw text before pre-tokenization (Hugging Face's
/// "added_tokens"). Special tokens are matched only where the caller allows
/// them; non-special added tokens are always matched, as in Hugging Face.
struct AddedToken {
  std::string content;
  TokenId id = 0;
  bool special = true;
  bool lstrip = false;  // the match also swallows whitespace on its left
  bool rstrip = false;  // ... and on its right
  bool single_word = false;
  bool normalized = false;
};

/// Which special tokens encode() recognises in the text; all others are
/// encoded as ordinary text. The default allows none.
class AllowedSpecial {
 public:
  AllowedSpecial() = default;
  AllowedSpecial(std::initializer_list<std::string> names) : names_(names) {}
  explicit AllowedSpecial(std::vector<std::string> names) : names_(std::move(names)) {}
  static AllowedSpecial none() { return {}; }
  static AllowedSpecial all() {
    AllowedSpecial a;
    a.all_ = true;
    return a;
  }
  bool is_all() const { return all_; }
  const std::vector<std::string>& names() const { return names_; }

 private:
  bool all_ = false;
  std::vector<std::string> names_;
};

struct BpeOptions {
  bool add_prefix_space = false;  // prepend ' ' to text that does not start with one
  bool use_regex = true;          // split with the GPT-2 pattern before BPE
  bool ignore_merges = false;     // a word that is itself a token skips merging
};

/// Everything that defines a byte-level BPE model. Token strings are in GPT-2's
/// byte-level alphabet ("Ġthe" for " the").
struct BpeModel {
  std::vector<std::pair<std::string, TokenId>> vocab;
  /// Merges in rank order (first = applied first).
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<AddedToken> added_tokens;
  BpeOptions options;
  std::optional<std::string> unk_token;
  bool fuse_unk = false;  // consecutive unknown bytes give one unk_token
};

class BpeTokenizer {
 public:
  /// Builds the tokenizer; `source` names where the model came from in errors.
  explicit BpeTokenizer(const BpeModel& model, const std::string& source = "BPE model");
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  /// GPT-2's own files: encoder.json (token -> id) and vocab.bpe (merges).
  /// "<|endoftext|>" becomes a special token when the vocabulary has it.
  static BpeTokenizer from_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe);
  /// The same from the files' contents; the names are used in error messages.
  static BpeTokenizer from_gpt2_text(std::string_view encoder_json_text, std::string_view vocab_bpe_text,
                                     const std::string& encoder_json_name, const std::string& vocab_bpe_name);
  /// A Hugging Face tokenizer.json with a BPE model and ByteLevel pre-tokenizer.
  /// Merges may be "a b" strings or ["a", "b"] pairs.
  static BpeTokenizer from_tokenizer_json(const std::string& path);
  /// The vocabulary a llama.cpp GGUF file stores under tokenizer.ggml.*, when it
  /// is a byte-level BPE one: tokenizer.ggml.model "gpt2" with a pre-tokenizer
  /// (tokenizer.ggml.pre) that llama.cpp splits with GPT-2's pattern ("gpt-2",
  /// "phi-2", "roberta-bpe", ...). Tokens are taken in id order with their
  /// token_type: NORMAL and UNKNOWN tokens form the vocabulary, CONTROL tokens
  /// are also special added tokens (matched only where allowed, like
  /// <|endoftext|>), USER_DEFINED tokens are non-special added tokens and
  /// UNUSED ids are left empty. tokenizer.ggml.add_space_prefix sets
  /// add_prefix_space. BOS/EOS ids are not part of the tokenizer: read
  /// tokenizer.ggml.bos_token_id / eos_token_id from the file. Throws
  /// kiln::Error naming the file and key when the metadata is missing, of the
  /// wrong type, or describes another kind of tokenizer.
  static BpeTokenizer from_gguf(const io::GgufFile& file);
  /// from_gguf for metadata already read (e.g. parse_gguf's header);
  /// `source` names it in errors.
  static BpeTokenizer from_gguf_metadata(const std::vector<std::pair<std::string, io::GgufValue>>& metadata,
                                         const std::string& source);
  /// Writes a Hugging Face tokenizer.json that from_tokenizer_json and
  /// Hugging Face tokenizers both load back to the same tokenizer.
  void save_tokenizer_json(const std::string& path) const;

  /// Encodes UTF-8 (or arbitrary bytes: invalid UTF-8 is encoded byte by byte).
  std::vector<TokenId> encode(std::string_view text, const AllowedSpecial& allowed = AllowedSpecial::none()) const;
  /// Encodes many texts on kiln's worker threads; result i belongs to texts[i].
  std::vector<std::vector<TokenId>> encode_batch(std::span<const std::string> texts,
                                                 const AllowedSpecial& allowed = AllowedSpecial::none()) const;
  std::vector<std::vector<TokenId>> encode_batch(std::span<const std::string_view> texts,
                                                 const AllowedSpecial& allowed = AllowedSpecial::none()) const;
  /// Bytes of the concatenated tokens; decode(encode(t)) == t for every byte string t.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  /// One more than the largest id (model vocabulary and added tokens).
  std::size_t vocab_size() const { return tokens_.size(); }
  std::optional<TokenId> token_to_id(std::string_view token) const;
  /// The token string of an id; throws for ids that name no token.
  const std::string& id_to_token(TokenId id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const BpeOptions& options() const { return options_; }
  /// The model this tokenizer was built from (vocab in id order, merges in rank order).
  BpeModel model() const;
  /// Drops the per-word cache (it is bounded, so this is only needed to free memory).
  /// Safe while other threads encode: they finish with the table they hold.
  void clear_cache() const;

 private:
  struct Scratch;
  struct Piece;
  void encode_ordinary(std::string_view text, std::vector<TokenId>& out, Scratch& scratch) const;
  void encode_word(std::string_view word, std::vector<TokenId>& out, Scratch& scratch) const;
  void bpe(std::string_view word, std::vector<TokenId>& out, Scratch& scratch) const;
  void split_added(std::string_view text, const AllowedSpecial& allowed, std::vector<Piece>& pieces) const;
  void encode_into(std::string_view text, const AllowedSpecial& allowed, std::vector<TokenId>& out,
                   Scratch& scratch) const;
  const std::string& check_id(TokenId id) const;

  std::vector<std::string> tokens_;      // id -> token string ("" for unused ids)
  std::vector<std::string> token_bytes_; // id -> decoded bytes
  std::vector<std::uint8_t> id_kind_;    // 0 unused, 1 model vocab, 2 added only, 3 both
  std::vector<std::pair<std::uint32_t, std::uint32_t>> merge_list_;  // rank -> pair of ids
  std::unique_ptr<detail::PairMap> merges_;
  std::unique_ptr<detail::WordCacheHolder> cache_;
  std::unordered_map<std::string, TokenId, detail::StringHash, std::equal_to<>> token_ids_;
  std::vector<AddedToken> added_;
  std::array<std::int64_t, 256> byte_ids_{};  // byte -> id of its single-byte token, -1 if none
  std::optional<TokenId> unk_id_;
  std::optional<std::string> unk_token_;
  bool fuse_unk_ = false;
  BpeOptions options_;
};

}  // namespace kiln::text
