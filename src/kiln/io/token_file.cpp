#include "kiln/io/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "kiln/core/error.h"
#include "kiln/io/file_util.h"

namespace kiln::io {
namespace {

// Tokens are written from, and viewed in, host memory as they are: that is the
// file's little-endian layout only on a little-endian host.
static_assert(std::endian::native == std::endian::little, "token files hold little-endian uint16 ids");

std::string where(const std::filesystem::path& path) { return "token file '" + path.string() + "'"; }

std::int32_t read_le_i32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint32_t>(p[i]);
  return static_cast<std::int32_t>(v);
}

void write_le_i32(std::byte* p, std::int32_t value) {
  auto v = static_cast<std::uint32_t>(value);
  for (int i = 0; i < 4; ++i, v >>= 8) p[i] = static_cast<std::byte>(v & 0xFFU);
}

/// Offset of the first id >= vocab_size, or nullopt. The max pass vectorises;
/// only a file that holds a bad id pays for the second, locating pass.
std::optional<std::size_t> first_id_not_below(std::span<const std::uint16_t> ids, std::int64_t vocab_size) {
  if (vocab_size > std::numeric_limits<std::uint16_t>::max()) return std::nullopt;
  std::uint16_t largest = 0;
  for (const std::uint16_t id : ids) largest = std::max(largest, id);
  if (largest < vocab_size) return std::nullopt;
  const auto it = std::find_if(ids.begin(), ids.end(), [&](std::uint16_t id) { return id >= vocab_size; });
  return static_cast<std::size_t>(it - ids.begin());
}

std::string vocab_range_error(std::int64_t vocab_size) {
  return "vocabulary size " + std::to_string(vocab_size) + " is outside 1.." + std::to_string(kTokenFileMaxVocab) +
         " (token files hold uint16 ids)";
}

/// Closes a descriptor on scope exit.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

const char* tokenizer_kind_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::gpt2: return "gpt2";
    case TokenizerKind::chars: return "char";
    case TokenizerKind::unrecorded: break;
  }
  return "unrecorded";
}

void write_token_file(const std::filesystem::path& path, std::span<const std::uint16_t> tokens,
                      const TokenFileInfo& info) {
  if (info.vocab_size < 1 || info.vocab_size > kTokenFileMaxVocab) {
    throw Error(where(path) + ": " + vocab_range_error(info.vocab_size));
  }
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(where(path) + ": " + std::to_string(tokens.size()) + " tokens are more than the " +
                std::to_string(std::numeric_limits<std::int32_t>::max()) +
                " one file can hold (llm.c's header stores the count as int32); split the data into several files");
  }
  if (const auto bad = first_id_not_below(tokens, info.vocab_size)) {
    throw Error(where(path) + ": token at offset " + std::to_string(*bad) + " is id " +
                std::to_string(tokens[*bad]) + ", not below the vocabulary size " + std::to_string(info.vocab_size));
  }
  std::array<std::byte, kTokenFileHeaderBytes> header{};
  write_le_i32(&header[0], kTokenFileMagic);
  write_le_i32(&header[4], kTokenFileVersion);
  write_le_i32(&header[8], static_cast<std::int32_t>(tokens.size()));
  write_le_i32(&header[12], static_cast<std::int32_t>(info.vocab_size));
  write_le_i32(&header[16], static_cast<std::int32_t>(info.tokenizer));
  write_file_atomically(path, {std::span<const std::byte>(header), std::as_bytes(tokens)}, "token file");
}

TokenFile::TokenFile(const std::filesystem::path& path, const TokenFileReadOptions& options) : path_(path) {
  if (options.vocab_size && *options.vocab_size < 1) {
    throw Error(where(path) + ": the vocabulary size to check ids against must be at least 1, got " +
                std::to_string(*options.vocab_size));
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) throw Error(where(path) + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw Error(where(path) + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(where(path) + ": not a regular file");
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  if (file_bytes < kTokenFileHeaderBytes) {
    throw Error(where(path) + ": " + std::to_string(file_bytes) + " bytes, too short for the " +
                std::to_string(kTokenFileHeaderBytes) + "-byte header; not a token file, or truncated");
  }
  map_bytes_ = static_cast<std::size_t>(file_bytes);
  void* p = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (p == MAP_FAILED) throw Error(where(path) + ": cannot mmap: " + std::strerror(errno));
  map_ = p;
  // From here a throw must unmap: the destructor does not run for a constructor that throws.
  try {
    const auto* bytes = static_cast<const std::byte*>(map_);
    const std::int32_t magic = read_le_i32(bytes);
    if (magic != kTokenFileMagic) {
      throw Error(where(path) + ": magic number is " + std::to_string(magic) + ", not " +
                  std::to_string(kTokenFileMagic) + "; not an llm.c/kiln token file");
    }
    const std::int32_t version = read_le_i32(bytes + 4);
    if (version != kTokenFileVersion) {
      throw Error(where(path) + ": version " + std::to_string(version) + " is not supported; kiln reads version " +
                  std::to_string(kTokenFileVersion) + " (uint16 tokens)" +
                  (version == 2 ? ", and version 2 is llm.c's uint32 llama-3 layout" : ""));
    }
    const std::int32_t count = read_le_i32(bytes + 8);
    if (count < 0) throw Error(where(path) + ": the header's token count " + std::to_string(count) + " is negative");
    // count <= INT32_MAX, so this sum cannot overflow 64 bits.
    const std::uint64_t expected = kTokenFileHeaderBytes + std::uint64_t{2} * static_cast<std::uint64_t>(count);
    if (file_bytes < expected) {
      throw Error(where(path) + ": truncated: the header says " + std::to_string(count) + " tokens, which take " +
                  std::to_string(expected) + " bytes with the header, but the file has " +
                  std::to_string(file_bytes) + " bytes");
    }
    if (file_bytes > expected) {
      throw Error(where(path) + ": the file has " + std::to_string(file_bytes) + " bytes, more than the " +
                  std::to_string(expected) + " that the header's " + std::to_string(count) +
                  " tokens take; trailing bytes");
    }
    const std::int32_t header_vocab = read_le_i32(bytes + 12);
    if (header_vocab != 0 && (header_vocab < 1 || header_vocab > kTokenFileMaxVocab)) {
      throw Error(where(path) + ": header slot 3: " + vocab_range_error(header_vocab));
    }
    const std::int32_t kind = read_le_i32(bytes + 16);
    if (kind < 0 || kind > static_cast<std::int32_t>(TokenizerKind::chars)) {
      throw Error(where(path) + ": header slot 4: unknown tokenizer kind " + std::to_string(kind) +
                  " (known: 0 unrecorded, 1 gpt2, 2 char)");
    }
    header_info_ = {.vocab_size = header_vocab, .tokenizer = static_cast<TokenizerKind>(kind)};
    // The header is 1024 bytes and the mapping page-aligned, so the ids are aligned for uint16.
    tokens_ = reinterpret_cast<const std::uint16_t*>(bytes + kTokenFileHeaderBytes);
    count_ = static_cast<std::size_t>(count);

    vocab_size_ = options.vocab_size.value_or(header_vocab);
    if (vocab_size_ > 0) {
      if (const auto bad = first_id_not_below(tokens(), vocab_size_)) {
        throw Error(where(path) + ": token at offset " + std::to_string(*bad) + " is id " +
                    std::to_string(tokens_[*bad]) + ", not below the vocabulary size " + std::to_string(vocab_size_) +
                    (options.vocab_size ? " the model was given" : " recorded in the header"));
      }
    }
  } catch (...) {
    ::munmap(map_, map_bytes_);
    throw;
  }
}

TokenFile::~TokenFile() { ::munmap(map_, map_bytes_); }

}  // namespace kiln::io
