#include "kiln/io/file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "kiln/core/error.h"

namespace kiln::io {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

/// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  /// Closes now, reporting the error (close can report a failed delayed write).
  int release_close() {
    const int r = ::close(fd);
    fd = -1;
    return r;
  }
};

void write_all(int fd, std::span<const std::byte> bytes, const std::filesystem::path& tmp, const std::string& what) {
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ::ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(what + " '" + tmp.string() + "': write failed: " + errno_text(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path, const std::string& what) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) throw Error(what + " '" + path.string() + "': cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) throw Error(what + " '" + path.string() + "': cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw Error(what + " '" + path.string() + "': not a regular file");
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ == 0) return;
  // MAP_PRIVATE + PROT_WRITE: tensors viewing the mapping may be written in place
  // (copy-on-write pages) without a segfault and without touching the file.
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  if (p == MAP_FAILED) throw Error(what + " '" + path.string() + "': cannot mmap: " + errno_text(errno));
  data_ = static_cast<std::byte*>(p);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

void write_file_atomically(const std::filesystem::path& path, const std::vector<std::span<const std::byte>>& chunks,
                           const std::string& what) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // The temporary is created with mode 0666 so the umask applies as for any new file.
  std::filesystem::path tmp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 100 && raw_fd < 0; ++attempt) {
    tmp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter.fetch_add(1)));
    raw_fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw_fd < 0 && errno != EEXIST) {
      throw Error(what + " '" + path.string() + "': cannot create temporary file '" + tmp.string() +
                  "': " + errno_text(errno));
    }
  }
  if (raw_fd < 0) throw Error(what + " '" + path.string() + "': cannot find a free temporary file name");
  Fd fd(raw_fd);
  try {
    for (const auto& c : chunks) write_all(fd.fd, c, tmp, what);
    if (::fsync(fd.fd) != 0) throw Error(what + " '" + tmp.string() + "': fsync failed: " + errno_text(errno));
    if (fd.release_close() != 0) throw Error(what + " '" + tmp.string() + "': close failed: " + errno_text(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      throw Error(what + " '" + path.string() + "': cannot rename '" + tmp.string() + "' onto it: " + errno_text(errno));
    }
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable. Failure here is not fatal to the data written.
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.fd >= 0) ::fsync(dfd.fd);
}

}  // namespace kiln::io
