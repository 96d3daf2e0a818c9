#include "kiln/io/csv.h"

#include <cstdio>

#include "kiln/core/error.h"
#include "kiln/io/byte_source.h"

namespace kiln::io {
namespace {

constexpr std::size_t kChunk = 1 << 16;

std::string char_text(int c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned>(c) & 0xffU);
  return buf;
}

std::string column_list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

}  // namespace

CsvReader::CsvReader(const std::filesystem::path& path, CsvOptions options)
    : path_(path), options_(std::move(options)), src_(open_byte_source(path, "CSV file")), buf_(kChunk) {
  const char d = options_.delimiter;
  if (d == '"' || d == '\n' || d == '\r') {
    throw Error("CSV file '" + path.string() + "': the delimiter cannot be a quote or a line break");
  }
  // Skip a UTF-8 byte order mark (spreadsheet exports often start with one).
  if (peek() == 0xef && end_ - pos_ >= 3 && static_cast<unsigned char>(buf_[pos_ + 1]) == 0xbb &&
      static_cast<unsigned char>(buf_[pos_ + 2]) == 0xbf) {
    pos_ += 3;
  }
  if (!read_record(header_)) fail(1, "empty file: no header row");
  text_index_ = column(options_.text_column);
  if (!options_.label_column.empty()) label_index_ = column(options_.label_column);
}

CsvReader::~CsvReader() = default;
CsvReader::CsvReader(CsvReader&&) noexcept = default;
CsvReader& CsvReader::operator=(CsvReader&&) noexcept = default;

void CsvReader::fail(std::size_t line, const std::string& problem) const {
  throw Error("CSV file '" + path_.string() + "': line " + std::to_string(line) + ": " + problem);
}

std::size_t CsvReader::column(const std::string& name) const {
  std::size_t found = header_.size();
  for (std::size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] != name) continue;
    if (found != header_.size()) fail(1, "column '" + name + "' appears twice in the header");
    found = i;
  }
  if (found == header_.size()) fail(1, "the header has no column '" + name + "' (columns: " + column_list(header_) + ")");
  return found;
}

int CsvReader::peek() {
  if (pos_ == end_) {
    if (eof_) return EOF;
    end_ = src_->read(reinterpret_cast<std::uint8_t*>(buf_.data()), buf_.size());
    pos_ = 0;
    if (end_ == 0) {
      eof_ = true;
      return EOF;
    }
  }
  return static_cast<unsigned char>(buf_[pos_]);
}

int CsvReader::get() {
  const int c = peek();
  if (c != EOF) ++pos_;
  return c;
}

bool CsvReader::read_record(std::vector<std::string>& fields) {
  fields.clear();
  // Empty lines hold no record.
  for (;;) {
    const int c = peek();
    if (c == EOF) return false;
    if (c != '\n' && c != '\r') break;
    get();
    if (c == '\r' && peek() == '\n') get();
    ++line_;
  }
  record_line_ = line_;
  const char delim = options_.delimiter;
  std::size_t bytes = 0;
  const auto grow = [&](std::string& field, int c) {
    if (++bytes > options_.max_record_bytes) {
      fail(record_line_, "record is longer than " + std::to_string(options_.max_record_bytes) +
                             " bytes (an unterminated quoted field?)");
    }
    field += static_cast<char>(c);
  };
  for (;;) {
    std::string field;
    int c = peek();
    if (c == '"') {
      get();
      const std::size_t start = line_;
      for (;;) {
        c = get();
        if (c == EOF) {
          fail(start, "quoted field " + std::to_string(fields.size() + 1) +
                          " is not closed before the end of the file");
        }
        if (c == '"') {
          if (peek() != '"') break;
          get();  // "" is one quote
        } else if (c == '\n' || (c == '\r' && peek() != '\n')) {
          ++line_;  // a line break inside the field (CRLF counted at its LF)
        }
        grow(field, c);
      }
      c = peek();
      if (c != delim && c != '\n' && c != '\r' && c != EOF) {
        fail(line_, "unexpected " + char_text(c) + " after the closing quote of field " +
                        std::to_string(fields.size() + 1) + " (a quote inside a quoted field must be doubled)");
      }
    } else {
      // Unquoted: up to the delimiter or line end (a quote here is kept as text).
      while ((c = peek()) != delim && c != '\n' && c != '\r' && c != EOF) grow(field, get());
    }
    fields.push_back(std::move(field));
    c = get();
    if (c == delim) continue;
    if (c == '\r' && peek() == '\n') get();
    if (c != EOF) ++line_;
    return true;
  }
}

bool CsvReader::next_row(std::vector<std::string>& fields) {
  if (!read_record(fields)) return false;
  if (fields.size() != header_.size()) {
    fail(record_line_, "record has " + std::to_string(fields.size()) + " fields but the header has " +
                           std::to_string(header_.size()));
  }
  return true;
}

bool CsvReader::next(TextRecord& out) {
  if (!next_row(row_)) return false;
  out.text = std::move(row_[text_index_]);
  out.label = options_.label_column.empty() ? std::string() : std::move(row_[label_index_]);
  out.line = record_line_;
  return true;
}

std::vector<TextRecord> read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  CsvReader reader(path, options);
  return read_all_records(reader);
}

}  // namespace kiln::io
