#include "kiln/text/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kiln/core/error.h"

namespace kiln::text::detail {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return std::move(ss).str();
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot open for writing (" + std::strerror(errno) + ")");
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.flush();
  if (!out) throw Error(path + ": write error");
}

std::size_t json_array_element_line(std::string_view json, std::string_view key, std::size_t index) {
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = json.size();
  auto skip_ws = [&] {
    while (i < n && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) {
      if (json[i] == '\n') ++line;
      ++i;
    }
  };
  // Skips the string starting at json[i] == '"'; returns its raw contents.
  auto skip_string = [&] {
    const std::size_t start = ++i;
    while (i < n && json[i] != '"') {
      if (json[i] == '\\') ++i;
      else if (json[i] == '\n') ++line;
      ++i;
    }
    const std::string_view body = json.substr(start, std::min(i, n) - start);
    if (i < n) ++i;
    return body;
  };
  while (i < n) {
    if (json[i] == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (json[i] != '"') {
      ++i;
      continue;
    }
    if (skip_string() != key) continue;
    skip_ws();
    if (i >= n || json[i] != ':') continue;
    ++i;
    skip_ws();
    if (i >= n || json[i] != '[') continue;
    ++i;
    for (std::size_t element = 0;; ++element) {
      skip_ws();
      if (i >= n || json[i] == ']') return 0;
      if (element == index) return line;
      // Skip one value: strings and nested brackets until a top-level ',' or ']'.
      int depth = 0;
      while (i < n) {
        const char c = json[i];
        if (c == '"') {
          skip_string();
          continue;
        }
        if (c == '\n') ++line;
        if (c == '[' || c == '{') ++depth;
        if (c == ']' || c == '}') {
          if (depth == 0) return 0;
          --depth;
        }
        if (c == ',' && depth == 0) {
          ++i;
          break;
        }
        ++i;
      }
    }
  }
  return 0;
}

}  // namespace kiln::text::detail
