#include "kiln/cli/inputs.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/core/error.h"

namespace kiln::cli {
namespace {

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, stdin);
    data.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(stdin)) throw Error(std::string("<stdin>: read error: ") + std::strerror(errno));
  return data;
}

std::string read_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw Error(path + ": no such file");
  if (std::filesystem::is_directory(st)) throw Error(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  // An empty file leaves failbit set on ss (nothing was inserted); only badbit is an error.
  if (in.bad()) throw Error(path + ": read error: " + std::strerror(errno));
  return std::move(ss).str();
}

}  // namespace

std::vector<Input> read_inputs(const std::vector<std::string>& paths) {
  std::vector<Input> out;
  if (paths.empty()) {
    out.push_back({"<stdin>", read_stdin()});
    return out;
  }
  bool stdin_used = false;
  for (const std::string& p : paths) {
    if (p == "-") {
      if (stdin_used) throw Error("standard input ('-') given more than once");
      stdin_used = true;
      out.push_back({"<stdin>", read_stdin()});
    } else {
      out.push_back({p, read_path(p)});
    }
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace kiln::cli
