#pragma once
// Shared by the fuzz targets: the readers under test take file paths, so each
// input is written to an in-memory file (memfd) and opened by its /proc path;
// findings abort with a message.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kiln/core/error.h"
#include "kiln/io/text_record.h"

namespace kiln::fuzz {

class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  /// Replaces the contents with `data` and returns the path to open.
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t off = 0;
    while (off < size) {
      const ::ssize_t n = ::pwrite(fd_, data + off, size - off, static_cast<::off_t>(off));
      if (n <= 0) std::abort();
      off += static_cast<std::size_t>(n);
    }
    return path_;
  }
  /// The path to open, without touching the contents.
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

/// The repository's tests/fixtures directory: $KILN_FUZZ_FIXTURES (fuzz/run.sh
/// sets it), else ../tests/fixtures beside the executable's directory (build-fuzz/
/// in the repository root). Aborts with a message when neither exists.
inline std::string fixtures_dir() {
  if (const char* env = std::getenv("KILN_FUZZ_FIXTURES"); env != nullptr && *env != '\0') return env;
  char exe[4096];
  const ::ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<std::size_t>(n));
    dir.resize(dir.rfind('/') + 1);
    dir += "../tests/fixtures";
    struct ::stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  }
  std::fprintf(stderr, "fuzz: cannot find tests/fixtures: set KILN_FUZZ_FIXTURES to its path\n");
  std::abort();
}

/// Stops the run with a message: libFuzzer reports it as a crash and saves the input.
[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what);
  std::abort();
}

/// Reads every record of a text-data reader (CSV, JSONL), checking that the
/// reported start lines increase.
template <class Reader>
void drain_records(Reader& reader) {
  kiln::io::TextRecord r;
  std::size_t last = 0;
  while (reader.next(r)) {
    if (r.line <= last) finding("record lines do not increase");
    last = r.line;
  }
}

}  // namespace kiln::fuzz
