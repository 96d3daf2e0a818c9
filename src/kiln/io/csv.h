#pragma once
// Streaming reader for CSV files as RFC 4180 describes them: fields separated by
// commas, records by CRLF or LF (a lone CR also ends a record), a field in double
// quotes may hold commas, line breaks and doubled quotes (""), and the first
// record is the header naming the columns. The file is read in chunks (gzip
// inflated on the fly when it starts with the gzip magic), so files larger than
// memory can be processed; only one record is held at a time.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kiln/io/text_record.h"

namespace kiln::io {

class ByteSource;

struct CsvOptions {
  std::string text_column = "text";
  std::string label_column = "label";  ///< empty: records get no label
  char delimiter = ',';
  /// A record longer than this is an error (an unterminated quote would
  /// otherwise read the rest of the file into one field).
  std::size_t max_record_bytes = std::size_t{64} << 20;
};

class CsvReader {
 public:
  /// Opens `path` and reads its header. Throws kiln::Error naming the file (and
  /// line) when it cannot be read, is empty, or lacks a selected column, or a
  /// selected column name appears twice in the header. A UTF-8 byte order mark
  /// before the header is skipped.
  explicit CsvReader(const std::filesystem::path& path, CsvOptions options = {});
  ~CsvReader();
  CsvReader(CsvReader&&) noexcept;
  CsvReader& operator=(CsvReader&&) noexcept;

  /// The header's column names.
  const std::vector<std::string>& header() const { return header_; }
  /// The index of column `name`; throws naming the file and the columns if absent.
  std::size_t column(const std::string& name) const;

  /// Reads the next record's fields; false at the end of the file. Empty lines
  /// are skipped. Throws kiln::Error naming the file and line for a record
  /// whose field count differs from the header's, an unterminated quoted field,
  /// a character other than a delimiter or line break after a closing quote,
  /// a record over max_record_bytes, and read or gzip errors.
  bool next_row(std::vector<std::string>& fields);
  /// Reads the next record as {text, label} from the selected columns.
  bool next(TextRecord& out);
  /// The line the last record returned started on (1-based; 0 before any).
  std::size_t line() const { return record_line_; }

 private:
  bool read_record(std::vector<std::string>& fields);
  int peek();
  int get();
  [[noreturn]] void fail(std::size_t line, const std::string& problem) const;

  std::filesystem::path path_;
  CsvOptions options_;
  std::unique_ptr<ByteSource> src_;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  std::size_t line_ = 1;  // line of the next unread character
  std::size_t record_line_ = 0;
  std::vector<std::string> header_;
  std::size_t text_index_ = 0, label_index_ = 0;
  std::vector<std::string> row_;
};

/// Every record of a CSV file (convenience over CsvReader).
std::vector<TextRecord> read_csv(const std::filesystem::path& path, const CsvOptions& options = {});

}  // namespace kiln::io
