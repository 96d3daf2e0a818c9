#include "kiln/io/file_format.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "kiln/core/error.h"
#include "kiln/io/byte_source.h"

namespace kiln::io {
namespace {

bool is_idx_start(const std::uint8_t* b, std::size_t n) {
  if (n < 4 || b[0] != 0 || b[1] != 0) return false;
  switch (b[2]) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E: return true;
    default: return false;
  }
}

std::string hex_bytes(const std::uint8_t* b, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    s += (i ? " " : "") + std::string(buf);
  }
  return s;
}

}  // namespace

const char* file_format_name(FileFormat format) {
  switch (format) {
    case FileFormat::safetensors: return "safetensors";
    case FileFormat::gguf: return "GGUF";
    case FileFormat::idx: return "IDX";
    case FileFormat::idx_gzip: return "IDX (gzip)";
  }
  return "unknown";
}

FileFormat detect_file_format(const std::filesystem::path& path) {
  const std::string prefix = path.string() + ": ";
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) throw Error(prefix + "no such file");
  if (std::filesystem::is_directory(st)) throw Error(prefix + "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(prefix + "cannot open: " + std::strerror(errno));
  std::array<std::uint8_t, 16> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  if (in.bad()) throw Error(prefix + "read error: " + std::strerror(errno));
  const auto n = static_cast<std::size_t>(in.gcount());
  if (n == 0) throw Error(prefix + "empty file (0 bytes): not a safetensors, GGUF or IDX file");

  if (n >= 4 && std::memcmp(head.data(), "GGUF", 4) == 0) return FileFormat::gguf;
  if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
    // Only IDX comes gzip-compressed; look at the decompressed start.
    const auto src = open_byte_source(path, "gzip file");
    std::array<std::uint8_t, 4> inner{};
    const std::size_t got = src->read(inner.data(), inner.size());
    if (is_idx_start(inner.data(), got)) return FileFormat::idx_gzip;
    if (got == 0) throw Error(prefix + "gzip-compressed, but the decompressed data is empty");
    throw Error(prefix + "gzip-compressed, but the decompressed data is not an IDX file (it starts with " +
                hex_bytes(inner.data(), got) + "; IDX starts with 00 00 and a type code 08, 09, 0b, 0c, 0d or 0e)");
  }
  // safetensors: the JSON header right after the 8-byte length must open an object.
  if (n >= 9 && head[8] == '{') return FileFormat::safetensors;
  if (is_idx_start(head.data(), n)) return FileFormat::idx;

  std::string problem = "not a safetensors, GGUF or IDX file (it starts with " + hex_bytes(head.data(), std::min<std::size_t>(n, 8)) +
                        "; expected \"GGUF\", gzip 1f 8b, IDX 00 00 <type>, or an 8-byte length and '{' for safetensors)";
  if (path.extension() == ".gz") problem = "name ends in .gz but the file is not gzip-compressed, and it is " + problem;
  throw Error(prefix + problem);
}

}  // namespace kiln::io
