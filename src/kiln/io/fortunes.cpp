#include "kiln/io/fortunes.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kiln/core/error.h"

namespace kiln::io {

std::string fortune_category(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  if (name.size() > 3 && name.ends_with(".u8")) name.resize(name.size() - 3);
  return name;
}

FortuneReader::FortuneReader(const std::filesystem::path& path)
    : path_(path), in_(path, std::ios::binary), category_(fortune_category(path)) {
  if (!in_) throw Error("fortune file '" + path.string() + "': cannot open: " + std::strerror(errno));
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error("fortune file '" + path.string() + "': is a directory");
}

bool FortuneReader::next(Fortune& out) {
  std::string text;
  bool any_bytes = false;  // an entry made of one empty line still counts, as in strfile
  std::string line;
  while (std::getline(in_, line)) {
    ++line_;
    if (line.find('\0') != std::string::npos) {
      throw Error("fortune file '" + path_.string() + "': line " + std::to_string(line_) +
                  " holds a NUL byte; not a fortune text file (a .dat index?)");
    }
    if (line == "%") {
      if (any_bytes) break;
      continue;  // empty entry: skipped
    }
    if (any_bytes) text += '\n';
    text += line;
    any_bytes = true;
  }
  if (in_.bad()) throw Error("fortune file '" + path_.string() + "': read failed: " + std::strerror(errno));
  if (!any_bytes) return false;
  out.category = category_;
  out.text = std::move(text);
  out.index = count_++;
  return true;
}

bool is_fortunes_zh_file(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return name == "tang300" || name == "song100" || name == "chinese";
}

std::vector<std::filesystem::path> fortune_files(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error("fortune directory '" + dir.string() + "': not found" +
                (dir == kFortunesDir ? "; install it with `apt-get install fortunes`" : ""));
  }
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw Error("fortune directory '" + dir.string() + "': cannot list: " + ec.message());
  for (const auto& entry : it) {
    const auto& p = entry.path();
    const std::string ext = p.extension().string();
    if (ext == ".dat" || ext == ".u8") continue;
    if (!entry.is_regular_file(ec)) continue;  // follows symlinks; skips subdirectories
    if (is_fortunes_zh_file(p)) continue;
    files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Fortune> read_fortunes(const std::filesystem::path& path) {
  FortuneReader reader(path);
  std::vector<Fortune> out;
  Fortune f;
  while (reader.next(f)) out.push_back(std::move(f));
  return out;
}

}  // namespace kiln::io
