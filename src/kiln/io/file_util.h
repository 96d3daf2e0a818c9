#pragma once
// Small POSIX file helpers shared by the readers and writers in kiln/io.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace kiln::io {

/// A whole file mapped private copy-on-write (readable and writable in memory;
/// writes never reach the file). Empty files map to no memory.
class MappedFile {
 public:
  /// Throws kiln::Error naming `what` ("safetensors file"), the path and errno text.
  MappedFile(const std::filesystem::path& path, const std::string& what);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Writes `chunks` to `path` atomically: a temporary file in the same directory is
/// written, fsync'd and renamed over `path`, then the directory is fsync'd. On any
/// failure the temporary is removed and kiln::Error names `what`, the path and the cause.
void write_file_atomically(const std::filesystem::path& path, const std::vector<std::span<const std::byte>>& chunks,
                           const std::string& what);

}  // namespace kiln::io
