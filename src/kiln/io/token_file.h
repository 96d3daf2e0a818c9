#pragma once
// Token files for language-model training, in llm.c's .bin layout so that
// llm.c's data loader reads kiln's files and kiln reads llm.c's:
//
//   header: 256 little-endian int32 (1024 bytes)
//     [0] magic 20240520
//     [1] version 1 (tokens are uint16; llm.c's version 2 holds uint32 llama-3 ids)
//     [2] token count (int32, so at most INT32_MAX tokens per file)
//     [3] kiln: vocabulary size, 1..65536 (0: not recorded, as in llm.c's own files)
//     [4] kiln: tokenizer kind (TokenizerKind: 0 not recorded, 1 GPT-2 BPE, 2 characters)
//     [5..255] zero (llm.c ignores every slot after [2])
//   tokens: `count` little-endian uint16 ids
//
// The reader maps the file read-only and checks the header and every id once
// on open, so training never meets an id its embedding table lacks.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace kiln::io {

inline constexpr std::int32_t kTokenFileMagic = 20240520;
inline constexpr std::int32_t kTokenFileVersion = 1;
inline constexpr std::size_t kTokenFileHeaderInts = 256;
inline constexpr std::size_t kTokenFileHeaderBytes = kTokenFileHeaderInts * sizeof(std::int32_t);
/// uint16 ids: a vocabulary of up to 65536 tokens (ids 0..65535).
inline constexpr std::int64_t kTokenFileMaxVocab = 65536;

/// Which tokenizer made the ids (header slot 4), so a reader knows how to decode them.
enum class TokenizerKind : std::int32_t { unrecorded = 0, gpt2 = 1, chars = 2 };

/// "gpt2", "char" or "unrecorded".
const char* tokenizer_kind_name(TokenizerKind kind);

/// What the header records beside the tokens.
struct TokenFileInfo {
  std::int64_t vocab_size = 0;  ///< 1..65536; every id must be below it
  TokenizerKind tokenizer = TokenizerKind::unrecorded;
};

/// Writes `tokens` to `path` atomically (temporary file, fsync, rename), so a
/// reader never sees half a file. Throws kiln::Error naming the path when the
/// vocabulary size is outside 1..65536, an id is not below it (with its offset
/// and value), there are more than INT32_MAX tokens, or the write fails.
void write_token_file(const std::filesystem::path& path, std::span<const std::uint16_t> tokens,
                      const TokenFileInfo& info);

struct TokenFileReadOptions {
  /// Ids must be below this (the model's vocabulary). Without it the header's
  /// vocabulary size is used, and without that any uint16 is accepted.
  std::optional<std::int64_t> vocab_size;
};

/// A token file mapped read-only for as long as the object lives. Opening
/// validates the header (magic, version, count against the file size, the kiln
/// fields) and scans every id against the vocabulary size once; each problem is
/// a kiln::Error naming the file and the values involved.
class TokenFile {
 public:
  explicit TokenFile(const std::filesystem::path& path, const TokenFileReadOptions& options = {});
  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  /// The ids, viewing the mapping (valid while this object lives).
  std::span<const std::uint16_t> tokens() const { return {tokens_, count_}; }
  std::int64_t size() const { return static_cast<std::int64_t>(count_); }
  /// The vocabulary size ids were checked against (0 when neither the caller nor
  /// the header gave one).
  std::int64_t vocab_size() const { return vocab_size_; }
  /// What the header records (vocab_size 0 / unrecorded for llm.c's own files).
  const TokenFileInfo& header_info() const { return header_info_; }

 private:
  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  const std::uint16_t* tokens_ = nullptr;
  std::size_t count_ = 0;
  std::int64_t vocab_size_ = 0;
  TokenFileInfo header_info_;
};

}  // namespace kiln::io
