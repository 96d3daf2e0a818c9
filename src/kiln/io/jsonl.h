#pragma once
// Streaming reader for JSON Lines files (https://jsonlines.org): one JSON object
// per line, LF or CRLF line ends. The text and label are taken from fields
// chosen by name. The file is read in chunks (gzip inflated on the fly when it
// starts with the gzip magic), so files larger than memory can be processed;
// only one line is held at a time.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kiln/io/text_record.h"

namespace kiln::io {

class ByteSource;

struct JsonlOptions {
  std::string text_field = "text";
  std::string label_field = "label";  ///< empty: records get no label
  std::size_t max_line_bytes = std::size_t{64} << 20;
};

class JsonlReader {
 public:
  /// Opens `path`; throws kiln::Error naming it if it cannot be read.
  explicit JsonlReader(const std::filesystem::path& path, JsonlOptions options = {});
  ~JsonlReader();
  JsonlReader(JsonlReader&&) noexcept;
  JsonlReader& operator=(JsonlReader&&) noexcept;

  /// Reads the next record; false at the end of the file. Blank lines are
  /// skipped. The text field must be a string; the label may be a string, an
  /// integer, a number or a bool (kept as its JSON text: 3, 0.5, true). Throws
  /// kiln::Error naming the file and line for a line that is not a JSON object
  /// (with the parser's message), a missing field or one of the wrong type, a
  /// line over max_line_bytes, and read or gzip errors.
  bool next(TextRecord& out);
  /// The line the last record came from (1-based; 0 before any).
  std::size_t line() const { return line_; }

 private:
  bool next_line(std::string& line);
  [[noreturn]] void fail(const std::string& problem) const;

  std::filesystem::path path_;
  JsonlOptions options_;
  std::unique_ptr<ByteSource> src_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::size_t line_ = 0;
  std::string text_;
};

/// Every record of a JSONL file (convenience over JsonlReader).
std::vector<TextRecord> read_jsonl(const std::filesystem::path& path, const JsonlOptions& options = {});

}  // namespace kiln::io
