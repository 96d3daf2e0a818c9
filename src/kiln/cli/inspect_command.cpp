// `kiln inspect FILE`: what a safetensors, GGUF or IDX file holds (format found
// from the content), or one clear error naming the file.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "kiln/cli/commands.h"
#include "kiln/cli/table.h"
#include "kiln/cli/validators.h"
#include "kiln/core/error.h"
#include "kiln/io/file_format.h"
#include "kiln/io/gguf.h"
#include "kiln/io/idx.h"
#include "kiln/io/safetensors.h"
#include "kiln/text/escape.h"
#include "kiln/text/unicode.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

struct InspectOptions {
  std::string file;
  std::int64_t array_items = 8;
  std::int64_t string_chars = 120;
};

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string with_commas(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

std::string bytes_text(std::uint64_t n) { return with_commas(n) + (n == 1 ? " byte" : " bytes"); }

// Everything printed from the file goes through escaped() or quoted(): names,
// keys and values can hold bytes a terminal acts on (text/escape.h).
std::string escaped(const std::string& s) { return text::escape_for_terminal(s); }

/// A string value in double quotes, escaped, cut to at most `max_bytes` bytes of
/// the value at a character boundary (so a cut never shows half a character).
std::string quoted(const std::string& s, std::int64_t max_bytes) {
  const auto limit = static_cast<std::size_t>(max_bytes);
  if (s.size() <= limit) return text::quote_for_terminal(s);
  std::size_t cut = 0;
  while (cut < s.size()) {
    const std::size_t next = cut + text::decode_utf8(s, cut).len;
    if (next > limit) break;
    cut = next;
  }
  return text::quote_for_terminal(std::string_view(s).substr(0, cut)) + "... (" + bytes_text(s.size()) + ")";
}

// ---- GGUF values -------------------------------------------------------------------

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

template <class T>
std::string scalar_text(const T& v, const InspectOptions& o) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return quoted(v, o.string_chars);
  } else if constexpr (std::is_floating_point_v<T>) {
    return number_text(static_cast<double>(v));
  } else {
    return std::to_string(v);  // widens u8/i8 so they print as numbers
  }
}

std::string array_text(const io::GgufArray& a, const InspectOptions& o);

std::string array_type(const io::GgufArray& a) {
  return std::string("array[") + io::gguf_type_name(a.type()) + "]";
}

std::string element_text(const io::GgufArray& a, std::size_t i, const InspectOptions& o) {
  return std::visit(
      [&](const auto& items) -> std::string {
        using T = typename std::decay_t<decltype(items)>::value_type;
        if constexpr (std::is_same_v<T, io::GgufArray>) {
          return array_text(items[i], o);
        } else if constexpr (std::is_same_v<T, bool>) {
          return items[i] ? "true" : "false";  // vector<bool> has no const T&
        } else {
          return scalar_text<T>(items[i], o);
        }
      },
      a.items);
}

std::string array_text(const io::GgufArray& a, const InspectOptions& o) {
  const std::size_t n = a.size();
  const auto shown = std::min<std::size_t>(n, static_cast<std::size_t>(o.array_items));
  std::string s = "[";
  for (std::size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + element_text(a, i, o);
  if (shown < n) s += std::string(shown ? ", " : "") + "... " + with_commas(n - shown) + " more";
  return s + "]";
}

std::string value_type(const io::GgufValue& v) {
  if (v.type() == io::GgufType::array) return array_type(std::get<io::GgufArray>(v.value));
  return io::gguf_type_name(v.type());
}

std::string value_text(const io::GgufValue& v, const InspectOptions& o) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, io::GgufArray>) {
          return array_text(x, o) + " (" + with_commas(x.size()) + " items)";
        } else {
          return scalar_text<T>(x, o);
        }
      },
      v.value);
}

// ---- one printer per format ----------------------------------------------------------

/// kiln's lower-case dtype name ("f32", "bool"); a dtype kiln lacks keeps the
/// file's name in lower case ("f8_e4m3", "u16").
std::string safetensors_dtype_text(const std::string& name) {
  if (const std::optional<DType> d = io::dtype_from_safetensors(name)) return dtype_name(*d);
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

void print_safetensors(const fs::path& path, const InspectOptions&) {
  const io::SafetensorsFile f = io::SafetensorsFile::open(path);
  const std::uint64_t size = fs::file_size(path);
  std::uint64_t data_bytes = 0, params = 0;
  for (const auto& e : f.entries()) {
    data_bytes += e.end - e.begin;
    params += static_cast<std::uint64_t>(shape_numel(e.shape));
  }
  std::cout << "file: " << escaped(path.string()) << "\n"
            << "format: safetensors\n"
            << "size: " << bytes_text(size) << " (header " << bytes_text(size - data_bytes - 8) << " of JSON, data "
            << bytes_text(data_bytes) << ")\n";
  std::cout << "metadata: " << f.metadata().size() << (f.metadata().size() == 1 ? " entry\n" : " entries\n");
  for (const auto& [k, v] : f.metadata()) std::cout << "  " << escaped(k) << " = " << quoted(v, 1 << 20) << "\n";
  std::cout << "tensors: " << f.entries().size() << " (" << with_commas(params) << " elements)\n";
  Table t({"name", "dtype", "shape", "bytes", "offsets"}, {false, false, false, true, false});
  for (const auto& e : f.entries()) {
    t.add({escaped(e.name), safetensors_dtype_text(e.dtype), shape_text(e.shape), with_commas(e.end - e.begin),
           "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")"});
  }
  t.print(std::cout, "  ");
}

void print_gguf(const fs::path& path, const InspectOptions& o) {
  const io::GgufFile f = io::GgufFile::open(path);
  const io::GgufHeader& h = f.header();
  std::uint64_t params = 0;
  for (const auto& t : h.tensors) params += static_cast<std::uint64_t>(t.numel);
  std::cout << "file: " << escaped(path.string()) << "\n"
            << "format: GGUF version " << h.version << "\n"
            << "size: " << bytes_text(fs::file_size(path)) << " (header " << bytes_text(h.data_offset) << ", data "
            << bytes_text(h.data_size) << ")\n"
            << "alignment: " << h.alignment << "\n";
  std::cout << "metadata: " << h.metadata.size() << (h.metadata.size() == 1 ? " entry\n" : " entries\n");
  for (const auto& [k, v] : h.metadata) {
    std::cout << "  " << escaped(k) << ": " << value_type(v) << " = " << value_text(v, o) << "\n";
  }
  std::cout << "tensors: " << h.tensors.size() << " (" << with_commas(params)
            << " elements; shapes row-major, i.e. ggml's ne reversed)\n";
  Table t({"name", "type", "shape", "bytes", "offset"}, {false, false, false, true, true});
  for (const auto& ti : h.tensors) {
    t.add({escaped(ti.name), io::ggml_type_name(ti.type), shape_text(ti.shape), with_commas(ti.nbytes),
           std::to_string(ti.offset)});
  }
  t.print(std::cout, "  ");
}

const char* idx_type_text(std::uint8_t code) {
  switch (code) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16 (big-endian)";
    case 0x0C: return "i32 (big-endian)";
    case 0x0D: return "f32 (big-endian)";
    case 0x0E: return "f64 (big-endian)";
    default: return "unknown";
  }
}

void print_idx(const fs::path& path, bool gzip) {
  const io::IdxArray a = io::read_idx(path);
  const std::uint64_t header = 4 + 4 * a.dims.size();
  char magic[16];
  std::snprintf(magic, sizeof magic, "0x0000%02x%02x", a.type_code, static_cast<unsigned>(a.dims.size()));
  std::cout << "file: " << escaped(path.string()) << "\n"
            << "format: IDX" << (gzip ? ", gzip-compressed" : "") << "\n"
            << "size: " << bytes_text(fs::file_size(path));
  if (gzip) std::cout << " (" << bytes_text(header + a.data.size()) << " decompressed)";
  std::cout << "\n"
            << "magic: " << magic << " (type " << idx_type_text(a.type_code) << ", " << a.dims.size()
            << (a.dims.size() == 1 ? " dimension)\n" : " dimensions)\n")
            << "tensors: 1 (" << with_commas(static_cast<std::uint64_t>(shape_numel(a.dims))) << " elements)\n";
  Table t({"name", "dtype", "shape", "bytes"}, {false, false, false, true});
  t.add({"data", idx_type_text(a.type_code), shape_text(a.dims), with_commas(a.data.size())});
  t.print(std::cout, "  ");
}

/// Reader errors read "<format> file '<path>': problem"; say "<path>: <format>: problem"
/// so every inspect error starts with the file. The readers escape what they
/// quote from the file but not the path the user gave; a file name can hold
/// control characters too (`kiln inspect *`), so the path is escaped here.
std::string file_first(const std::string& message, const fs::path& path) {
  const std::string shown_path = escaped(path.string());
  const std::string quoted_path = "'" + path.string() + "': ";
  const std::size_t at = message.find(quoted_path);
  if (at == std::string::npos || at == 0) {
    const std::string plain_prefix = path.string() + ": ";
    return shown_path + ": " + (message.starts_with(plain_prefix) ? message.substr(plain_prefix.size()) : message);
  }
  std::string what = message.substr(0, at);
  while (!what.empty() && what.back() == ' ') what.pop_back();
  if (what.size() > 5 && what.ends_with(" file")) what.resize(what.size() - 5);
  return shown_path + ": " + what + ": " + message.substr(at + quoted_path.size());
}

void run_inspect(const InspectOptions& o) {
  const fs::path path = o.file;
  try {
    switch (io::detect_file_format(path)) {
      case io::FileFormat::safetensors: print_safetensors(path, o); break;
      case io::FileFormat::gguf: print_gguf(path, o); break;
      case io::FileFormat::idx: print_idx(path, false); break;
      case io::FileFormat::idx_gzip: print_idx(path, true); break;
    }
  } catch (const Error& e) {
    throw Error(file_first(e.what(), path));
  } catch (const fs::filesystem_error& e) {
    throw Error(escaped(path.string()) + ": " + e.code().message());
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show the header, metadata and tensors (name, dtype, shape) of a safetensors, GGUF or IDX file");
  cmd->add_option("file", opts->file, "File to inspect; its format is found from its content (IDX may be gzipped)")
      ->required();
  cmd->add_option("--array-items", opts->array_items, "GGUF metadata arrays: show this many items")
      ->check(kNonNegative);
  cmd->add_option("--string-chars", opts->string_chars, "GGUF metadata strings: show this many bytes")
      ->check(kPositive);
  cmd->callback([opts] { run_inspect(*opts); });
}

}  // namespace kiln::cli
