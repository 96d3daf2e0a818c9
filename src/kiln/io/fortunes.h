#pragma once
// Streaming reader for fortune(6) text files (Debian package `fortunes`): entries
// separated by lines holding only "%", one category per file.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kiln::io {

inline const std::filesystem::path kFortunesDir = "/usr/share/games/fortunes";

struct Fortune {
  std::string category;  ///< the file name ("computers", "fortunes", ...)
  std::string text;      ///< the entry's lines joined by '\n', without the final newline
  std::size_t index = 0; ///< position among the file's entries, from 0
};

/// Reads one fortune file entry by entry without loading it whole. As strfile(1)
/// does, an entry with no bytes at all (two separators in a row) is skipped, so
/// the count matches the file's .dat index.
class FortuneReader {
 public:
  /// Opens `path`; throws kiln::Error naming it if it cannot be opened.
  explicit FortuneReader(const std::filesystem::path& path);
  /// Reads the next entry into `out`; false at the end of the file. Throws
  /// kiln::Error naming the file and line for read errors and NUL bytes (a binary
  /// file such as a .dat index is not a fortune file).
  bool next(Fortune& out);
  const std::string& category() const { return category_; }

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  std::string category_;
  std::size_t count_ = 0;
  std::size_t line_ = 0;
};

/// The category of a fortune file: its name without a ".u8" suffix.
std::string fortune_category(const std::filesystem::path& path);

/// The fortune text files in `dir`, sorted by name: regular files, skipping the
/// strfile indexes (*.dat) and the *.u8 links to the same texts. Throws naming
/// `dir` if it cannot be listed (suggesting `apt-get install fortunes` when it
/// does not exist).
std::vector<std::filesystem::path> fortune_files(const std::filesystem::path& dir = kFortunesDir);
/// True for the Chinese files of Debian's fortunes-zh (tang300, song100,
/// chinese), which install into the same directory as the English ones;
/// fortune_files() leaves them out so the English set does not depend on
/// whether fortunes-zh is installed.
bool is_fortunes_zh_file(const std::filesystem::path& path);

/// Every entry of one file (convenience over FortuneReader).
std::vector<Fortune> read_fortunes(const std::filesystem::path& path);

}  // namespace kiln::io
