#include "kiln/io/safetensors.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kiln/io/file_util.h"
#include "kiln/text/escape.h"
#include "kiln/text/unicode.h"

namespace kiln::io {

// The format stores little-endian bytes and kiln views them in place.
static_assert(std::endian::native == std::endian::little, "kiln's safetensors I/O assumes a little-endian host");

struct SafetensorsMapping {
  explicit SafetensorsMapping(const std::filesystem::path& path) : file(path, "safetensors file") {}
  MappedFile file;
};

namespace {

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // as in the reference implementation

struct DTypeInfo {
  const char* name;
  unsigned bits;              // element size in bits (F4, F6_* are sub-byte)
  std::optional<DType> kiln;  // kiln's dtype, where it has one
};

// In the format's enum order: the reference writer sorts tensors by this order,
// descending, so the table index is the sort rank.
constexpr std::array<DTypeInfo, 20> kDTypes{{
    {"BOOL", 8, DType::boolean},
    {"F4", 4, std::nullopt},
    {"F6_E2M3", 6, std::nullopt},
    {"F6_E3M2", 6, std::nullopt},
    {"U8", 8, DType::u8},
    {"I8", 8, std::nullopt},
    {"F8_E5M2", 8, std::nullopt},
    {"F8_E4M3", 8, std::nullopt},
    {"F8_E8M0", 8, std::nullopt},
    {"I16", 16, std::nullopt},
    {"U16", 16, std::nullopt},
    {"F16", 16, DType::f16},
    {"BF16", 16, DType::bf16},
    {"I32", 32, DType::i32},
    {"U32", 32, std::nullopt},
    {"F32", 32, DType::f32},
    {"C64", 64, std::nullopt},
    {"F64", 64, DType::f64},
    {"I64", 64, DType::i64},
    {"U64", 64, std::nullopt},
}};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

std::size_t dtype_rank(DType t) {
  const std::string name = safetensors_dtype_name(t);
  for (std::size_t i = 0; i < kDTypes.size(); ++i) {
    if (name == kDTypes[i].name) return i;
  }
  throw Error(std::string("save_safetensors: no safetensors dtype for ") + dtype_name(t));
}

std::string known_dtypes() {
  std::string s;
  for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

/// A name or other text from the file, quoted and made safe to print.
std::string quoted_name(const std::string& s) { return "'" + text::escape_for_terminal(s) + "'"; }

/// A JSON value from the header as text for a message: ASCII only, so the
/// control and bidi characters its strings may hold are \u escapes.
std::string json_text(const nlohmann::json& v) { return v.dump(-1, ' ', /*ensure_ascii=*/true); }

/// Why a header that is not UTF-8 is refused: the offset of the first bad byte
/// and the JSON string around it (a tensor name, metadata key or value),
/// escaped, so the user can find it.
std::string invalid_utf8_problem(std::string_view header) {
  std::size_t bad = 0;
  while (bad < header.size()) {
    const text::Utf8Char c = text::decode_utf8(header, bad);
    if (!c.valid) break;
    bad += c.len;
  }
  // The string literal holding the byte, cut to kContext bytes either side.
  constexpr std::size_t kContext = 48;
  std::size_t begin = bad;
  while (begin > 0 && bad - begin < kContext && header[begin - 1] != '"') --begin;
  std::size_t end = bad + 1;
  while (end < header.size() && end - bad < kContext && header[end] != '"') ++end;
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(header[bad]));
  return std::string("header is not valid UTF-8: byte ") + byte + " at header offset " + std::to_string(bad) +
         ", in \"" + text::escape_for_terminal(header.substr(begin, end - begin)) +
         "\" (tensor names, metadata keys and values must be UTF-8)";
}

std::uint64_t read_le_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

/// Builds error messages that all name the file.
struct Fail {
  std::string prefix;
  [[noreturn]] void operator()(const std::string& problem) const { throw Error(prefix + problem); }
};

std::uint64_t get_u64(const nlohmann::json& v, const Fail& fail, const std::string& what) {
  if (!v.is_number_unsigned()) fail(what + " must be a non-negative integer, got " + json_text(v));
  return v.get<std::uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info, const Fail& fail) {
  const std::string where = "tensor " + quoted_name(name) + ": ";
  if (!info.is_object()) fail(where + "entry must be a JSON object, got " + json_text(info));
  SafetensorsEntry e;
  e.name = name;

  const auto dt = info.find("dtype");
  if (dt == info.end()) fail(where + "missing \"dtype\"");
  if (!dt->is_string()) fail(where + "\"dtype\" must be a string, got " + json_text(*dt));
  e.dtype = dt->get<std::string>();
  const DTypeInfo* dinfo = find_dtype(e.dtype);
  if (dinfo == nullptr) fail(where + "unknown dtype " + json_text(*dt) + " (known: " + known_dtypes() + ")");

  const auto sh = info.find("shape");
  if (sh == info.end()) fail(where + "missing \"shape\"");
  if (!sh->is_array()) fail(where + "\"shape\" must be an array, got " + json_text(*sh));
  // Element count with overflow checks, as the reference does (a zero dim makes it 0).
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : *sh) {
    const std::uint64_t v = get_u64(d, fail, where + "shape dimension");
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(where + "shape dimension " + std::to_string(v) + " is too large");
    }
    e.shape.push_back(static_cast<std::int64_t>(v));
    if (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / v) overflow = true;
    numel *= v;
  }

  const auto off = info.find("data_offsets");
  if (off == info.end()) fail(where + "missing \"data_offsets\"");
  if (!off->is_array() || off->size() != 2) {
    fail(where + "\"data_offsets\" must be [begin, end], got " + json_text(*off));
  }
  e.begin = get_u64((*off)[0], fail, where + "data_offsets begin");
  e.end = get_u64((*off)[1], fail, where + "data_offsets end");
  if (e.end < e.begin) {
    fail(where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] end before begin");
  }

  if (overflow || numel > std::numeric_limits<std::uint64_t>::max() / dinfo->bits) {
    fail(where + "shape " + shape_str(e.shape) + " overflows the element count");
  }
  const std::uint64_t bits = numel * dinfo->bits;
  if (bits % 8 != 0) {
    fail(where + e.dtype + shape_str(e.shape) + " does not fill a whole number of bytes");
  }
  if (bits / 8 != e.end - e.begin) {
    fail(where + e.dtype + shape_str(e.shape) + " needs " + std::to_string(bits / 8) + " bytes but data_offsets [" +
         std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " + std::to_string(e.end - e.begin));
  }
  return e;
}

/// `s` as a JSON string literal; `what` names it in the error for text that is
/// not UTF-8 (which JSON cannot hold and the reader would refuse).
std::string json_string(const std::string& s, const std::string& what, const std::filesystem::path& path) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::exception&) {
    throw Error("save_safetensors '" + path.string() + "': " + what + " is not valid UTF-8");
  }
}

}  // namespace

std::optional<DType> dtype_from_safetensors(const std::string& name) {
  const DTypeInfo* d = find_dtype(name);
  return d != nullptr ? d->kiln : std::nullopt;
}

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
    default: break;
  }
  throw Error(std::string("safetensors has no dtype for kiln dtype ") + dtype_name(dtype));
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const Fail fail{"safetensors file '" + path.string() + "': "};
  auto mapping = std::make_shared<SafetensorsMapping>(path);
  const std::byte* base = mapping->file.data();
  const std::uint64_t size = mapping->file.size();

  if (size < 8) fail("file is " + std::to_string(size) + " bytes, too small for the 8-byte header length");
  const std::uint64_t n = read_le_u64(base);
  if (n > kMaxHeaderSize) {
    fail("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderSize));
  }
  if (n > size - 8) {
    fail("header length " + std::to_string(n) + " runs past the end of the " + std::to_string(size) + "-byte file");
  }
  const auto* hdr = reinterpret_cast<const unsigned char*>(base + 8);
  // Checked before parsing: the JSON parser also refuses bad UTF-8, but its
  // message neither says where nor shows the bytes.
  const std::string_view header_text(reinterpret_cast<const char*>(hdr), static_cast<std::size_t>(n));
  if (!text::is_valid_utf8(header_text)) fail(invalid_utf8_problem(header_text));

  // Parse, noting duplicate top-level keys (JSON parsers silently keep one).
  std::string duplicate;
  std::set<std::string> keys;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(
        hdr, hdr + n,
        [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
          if (ev == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string() &&
              !keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
            duplicate = parsed.get<std::string>();
          }
          return true;
        },
        true);
  } catch (const nlohmann::json::exception& e) {
    // The parser quotes what it last read, raw: escape it.
    fail("header is not valid JSON: " + text::escape_for_terminal(e.what(), {.backslash = false}));
  }
  if (!header.is_object()) fail(std::string("header is not a JSON object but a JSON ") + header.type_name());
  if (!duplicate.empty()) fail("key " + quoted_name(duplicate) + " appears twice in the header");

  SafetensorsFile f;
  f.path_ = path;
  f.data_start_ = 8 + n;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail("\"__metadata__\" must be an object of strings, got " + json_text(value));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          fail("\"__metadata__\" value for " + quoted_name(mk) + " must be a string, got " + json_text(mv));
        }
        f.metadata_.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    f.entries_.push_back(parse_entry(key, value, fail));
  }

  // The data section must be tiled exactly: sorted by offset, each tensor begins
  // where the previous one ended, starting at 0 and ending at the end of the file.
  std::sort(f.entries_.begin(), f.entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const std::uint64_t data_size = size - 8 - n;
  std::uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto& e : f.entries_) {
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin < pos) {
      fail("tensor " + quoted_name(e.name) + " data_offsets " + range + " overlap tensor " + quoted_name(prev->name) +
           " ending at " + std::to_string(pos));
    }
    if (e.begin > pos) {
      const std::string before = prev ? "tensor " + quoted_name(prev->name) + " ends" : std::string("data starts");
      fail("gap in the data section: tensor " + quoted_name(e.name) + " data_offsets " + range + " begin at " +
           std::to_string(e.begin) + " but " + before + " at " + std::to_string(pos));
    }
    if (e.end > data_size) {
      fail("tensor " + quoted_name(e.name) + " data_offsets " + range + " run past the end of the " +
           std::to_string(data_size) + "-byte data section");
    }
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size) {
    fail("tensors cover " + std::to_string(pos) + " bytes but the data section holds " + std::to_string(data_size) +
         " (trailing bytes)");
  }
  for (std::size_t i = 0; i < f.entries_.size(); ++i) f.index_.emplace(f.entries_[i].name, i);
  f.mapping_ = std::move(mapping);
  return f;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    throw Error("safetensors file '" + path_.string() + "': no tensor named " + quoted_name(name));
  }
  return entries_[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const std::byte* p = mapping_->file.data() + data_start_ + e.begin;
  return {p, static_cast<std::size_t>(e.end - e.begin)};
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const std::optional<DType> dt = dtype_from_safetensors(e.dtype);
  if (!dt) {
    throw Error("safetensors file '" + path_.string() + "': tensor " + quoted_name(name) + " has dtype " + e.dtype +
                ", which kiln has no dtype for");
  }
  const std::span<const std::byte> raw = bytes(name);
  if (*dt == DType::boolean) {
    // Any byte other than 0/1 would be undefined behaviour when read as bool.
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (std::to_integer<unsigned>(raw[i]) > 1) {
        throw Error("safetensors file '" + path_.string() + "': BOOL tensor " + quoted_name(name) + " holds byte " +
                    std::to_string(std::to_integer<unsigned>(raw[i])) + " at element " + std::to_string(i));
      }
    }
  }
  auto* ptr = const_cast<std::byte*>(raw.data());  // the mapping is private and writable
  if (reinterpret_cast<std::uintptr_t>(ptr) % dtype_size(*dt) != 0) {
    // Misaligned in the file (the reference writer never does this): copy.
    Tensor t = Tensor::empty(e.shape, *dt);
    if (!raw.empty()) std::memcpy(t.raw_data(), raw.data(), raw.size());
    return t;
  }
  auto storage = std::make_shared<Storage>(ptr, raw.size(), kCPU, [keep = mapping_]() {});
  return Tensor::from_storage(std::move(storage), e.shape, *dt);
}

void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    Tensor t;  // CPU, contiguous
    std::size_t rank;
  };
  std::vector<Item> items;
  items.reserve(tensors.size());
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) {
      throw Error("save_safetensors '" + path.string() + "': tensor " + quoted_name(name) + " is undefined");
    }
    if (name == "__metadata__") throw Error("save_safetensors '" + path.string() + "': '__metadata__' is reserved");
    if (!seen.insert(name).second) {
      throw Error("save_safetensors '" + path.string() + "': tensor name " + quoted_name(name) + " given twice");
    }
    items.push_back({&name, t.detach().to(kCPU).contiguous(), dtype_rank(t.dtype())});
  }
  // The reference writer's order: dtype descending in the format's enum order, then name.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.rank != b.rank) return a.rank > b.rank;
    return *a.name < *b.name;
  });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      header += json_string(k, "metadata key " + quoted_name(k), path) + ':' +
                json_string(v, "metadata value for " + quoted_name(k), path);
    }
    header += '}';
  }
  std::uint64_t offset = 0;
  for (const auto& it : items) {
    if (header.size() > 1) header += ',';
    header += json_string(*it.name, "tensor name " + quoted_name(*it.name), path) + ":{\"dtype\":\"" +
              safetensors_dtype_name(it.t.dtype()) + "\",\"shape\":[";
    for (std::size_t d = 0; d < it.t.shape().size(); ++d) {
      header += (d ? "," : "") + std::to_string(it.t.shape()[d]);
    }
    const std::uint64_t n = it.t.nbytes();
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxHeaderSize) {
    throw Error("save_safetensors '" + path.string() + "': header of " + std::to_string(header.size()) +
                " bytes exceeds the format's limit of " + std::to_string(kMaxHeaderSize));
  }

  std::array<std::byte, 8> len{};
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((header.size() >> (8 * i)) & 0xff);
  std::vector<std::span<const std::byte>> chunks;
  chunks.emplace_back(len);
  chunks.emplace_back(reinterpret_cast<const std::byte*>(header.data()), header.size());
  for (const auto& it : items) {
    if (it.t.nbytes() > 0) chunks.emplace_back(static_cast<const std::byte*>(it.t.raw_data()), it.t.nbytes());
  }
  write_file_atomically(path, chunks, "save_safetensors");
}

}  // namespace kiln::io
