#include "kiln/io/byte_source.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "kiln/core/error.h"

namespace kiln::io {
namespace {

constexpr std::size_t kChunk = 1 << 16;

/// The raw file, read in chunks.
class FileReader {
 public:
  FileReader(const std::filesystem::path& path, std::string prefix) : prefix_(std::move(prefix)) {
    in_.open(path, std::ios::binary);
    if (!in_) throw Error(prefix_ + "cannot open: " + std::strerror(errno));
  }
  std::size_t read(std::uint8_t* dst, std::size_t n) {
    in_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (in_.bad()) throw Error(prefix_ + "read failed: " + std::strerror(errno));
    return static_cast<std::size_t>(in_.gcount());
  }

 private:
  std::string prefix_;
  std::ifstream in_;
};

class PlainSource final : public ByteSource {
 public:
  PlainSource(const std::filesystem::path& path, std::string prefix) : file_(path, std::move(prefix)) {}
  std::size_t read(std::uint8_t* dst, std::size_t n) override {
    std::size_t got = 0;
    while (got < n) {
      const std::size_t r = file_.read(dst + got, n - got);
      if (r == 0) break;
      got += r;
    }
    return got;
  }
  bool compressed() const override { return false; }

 private:
  FileReader file_;
};

class GzipSource final : public ByteSource {
 public:
  GzipSource(const std::filesystem::path& path, std::string prefix)
      : prefix_(std::move(prefix)), file_(path, prefix_), in_(kChunk) {
    // 16 + MAX_WBITS: expect a gzip wrapper (header and CRC-32/size trailer are checked).
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw Error(prefix_ + "cannot initialise zlib");
  }
  ~GzipSource() override { inflateEnd(&zs_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  std::size_t read(std::uint8_t* dst, std::size_t n) override {
    std::size_t got = 0;
    while (got < n) {
      if (zs_.avail_in == 0 && !refill()) {
        if (member_done_) break;  // clean end after a complete member
        throw Error(prefix_ + "gzip stream is truncated (file ends inside compressed data)");
      }
      if (member_done_) {
        // More input after a complete member: the next member of a concatenated gzip.
        if (inflateReset(&zs_) != Z_OK) throw Error(prefix_ + "cannot reset zlib");
        member_done_ = false;
      }
      const std::size_t want = std::min<std::size_t>(n - got, std::numeric_limits<uInt>::max());
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc == Z_BUF_ERROR) {
        // No progress possible: input exhausted; loop to refill (or report truncation).
        if (zs_.avail_in != 0) throw Error(prefix_ + "corrupt gzip stream (no progress)");
      } else if (rc != Z_OK) {
        throw Error(prefix_ + "corrupt gzip stream: " + (zs_.msg ? zs_.msg : zError(rc)));
      }
    }
    return got;
  }
  bool compressed() const override { return true; }

 private:
  bool refill() {
    const std::size_t r = file_.read(in_.data(), in_.size());
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(r);
    return r > 0;
  }

  std::string prefix_;
  FileReader file_;
  std::vector<std::uint8_t> in_;
  z_stream zs_{};
  bool member_done_ = false;
};

}  // namespace

std::unique_ptr<ByteSource> open_byte_source(const std::filesystem::path& path, const std::string& what,
                                             const std::string& missing_hint) {
  const std::string prefix = what + " '" + path.string() + "': ";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(prefix + "no such file" + (missing_hint.empty() ? "" : "; " + missing_hint));
  }
  if (std::filesystem::is_directory(path, ec)) throw Error(prefix + "is a directory, not a file");
  std::uint8_t magic[2] = {0, 0};
  const std::size_t n = PlainSource(path, prefix).read(magic, 2);
  const bool gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (gzip) return std::make_unique<GzipSource>(path, prefix);
  if (path.extension() == ".gz") throw Error(prefix + "name ends in .gz but the file is not gzip-compressed (no 1f 8b magic)");
  return std::make_unique<PlainSource>(path, prefix);
}

}  // namespace kiln::io
