#include "kiln/io/jsonl.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "kiln/core/error.h"
#include "kiln/io/byte_source.h"

namespace kiln::io {
namespace {

constexpr std::size_t kChunk = 1 << 16;

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r") == std::string::npos;
}

}  // namespace

JsonlReader::JsonlReader(const std::filesystem::path& path, JsonlOptions options)
    : path_(path), options_(std::move(options)), src_(open_byte_source(path, "JSONL file")), buf_(kChunk) {
  if (options_.text_field.empty()) throw Error("JSONL file '" + path.string() + "': the text field name is empty");
}

JsonlReader::~JsonlReader() = default;
JsonlReader::JsonlReader(JsonlReader&&) noexcept = default;
JsonlReader& JsonlReader::operator=(JsonlReader&&) noexcept = default;

void JsonlReader::fail(const std::string& problem) const {
  throw Error("JSONL file '" + path_.string() + "': line " + std::to_string(line_) + ": " + problem);
}

bool JsonlReader::next_line(std::string& line) {
  line.clear();
  bool any = false;
  for (;;) {
    if (pos_ == end_) {
      if (eof_) break;
      end_ = src_->read(reinterpret_cast<std::uint8_t*>(buf_.data()), buf_.size());
      pos_ = 0;
      if (end_ == 0) {
        eof_ = true;
        break;
      }
    }
    if (!any) ++line_;
    any = true;
    const char* start = buf_.data() + pos_;
    const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
    const std::size_t n = nl ? static_cast<std::size_t>(nl - start) : end_ - pos_;
    if (line.size() + n > options_.max_line_bytes) {
      fail("line is longer than " + std::to_string(options_.max_line_bytes) + " bytes");
    }
    line.append(start, n);
    pos_ += n;
    if (nl) {
      ++pos_;
      break;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return any;
}

bool JsonlReader::next(TextRecord& out) {
  nlohmann::json j;
  for (;;) {
    if (!next_line(text_)) return false;
    if (line_ == 1 && text_.starts_with("\xef\xbb\xbf")) text_.erase(0, 3);  // UTF-8 byte order mark
    if (is_blank(text_)) continue;
    try {
      j = nlohmann::json::parse(text_);
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("not valid JSON: ") + e.what());
    }
    break;
  }
  if (!j.is_object()) fail(std::string("expected a JSON object, got a JSON ") + j.type_name());
  const auto text = j.find(options_.text_field);
  if (text == j.end()) fail("no \"" + options_.text_field + "\" field");
  if (!text->is_string()) {
    fail("field \"" + options_.text_field + "\" must be a string, got a JSON " + text->type_name());
  }
  out.text = text->get<std::string>();
  out.label.clear();
  if (!options_.label_field.empty()) {
    const auto label = j.find(options_.label_field);
    if (label == j.end()) fail("no \"" + options_.label_field + "\" field");
    if (label->is_string()) {
      out.label = label->get<std::string>();
    } else if (label->is_number() || label->is_boolean()) {
      out.label = label->dump();
    } else {
      fail("field \"" + options_.label_field + "\" must be a string, number or bool, got a JSON " +
           label->type_name());
    }
  }
  out.line = line_;
  return true;
}

std::vector<TextRecord> read_jsonl(const std::filesystem::path& path, const JsonlOptions& options) {
  JsonlReader reader(path, options);
  return read_all_records(reader);
}

}  // namespace kiln::io
