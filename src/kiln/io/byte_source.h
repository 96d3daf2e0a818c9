#pragma once
// Sequential byte readers over a file that may be gzip-compressed.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace kiln::io {

/// Reads a file front to back, transparently inflating gzip.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Reads up to `n` bytes into `dst`; fewer only at the end of the (decompressed)
  /// stream. Throws kiln::Error naming the file for I/O errors and corrupt or
  /// truncated gzip streams.
  virtual std::size_t read(std::uint8_t* dst, std::size_t n) = 0;
  virtual bool compressed() const = 0;
};

/// Opens `path`: gzip when it starts with the magic bytes 1f 8b (concatenated
/// members are read as one stream), plain otherwise. A name ending in ".gz" whose
/// content is not gzip is an error, as is a missing or unreadable file; errors name
/// `what` ("IDX file") and the path. `missing_hint`, if not empty, is appended to
/// the message for a file that does not exist.
std::unique_ptr<ByteSource> open_byte_source(const std::filesystem::path& path, const std::string& what,
                                             const std::string& missing_hint = "");

}  // namespace kiln::io
