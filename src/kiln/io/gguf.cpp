// GGUF parsing, validation, (de)quantization and the raw writer. Nothing here
// touches Tensor (see gguf.h), so the fuzz target compiles this file alone.
#include "kiln/io/gguf.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "kiln/core/dtype.h"
#include "kiln/io/file_util.h"
#include "kiln/text/escape.h"
#include "kiln/text/unicode.h"

namespace kiln::io {

// The format stores little-endian bytes and kiln views them in place.
static_assert(std::endian::native == std::endian::little, "kiln's GGUF I/O assumes a little-endian host");

struct GgufMapping {
  explicit GgufMapping(const std::filesystem::path& path) : file(path, "GGUF file") {}
  MappedFile file;
};

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr std::uint32_t kDefaultAlignment = 32;
constexpr std::uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 64;  // deeper nesting only serves to exhaust the stack
constexpr std::size_t kMaxNameBytes = 63;  // llama.cpp's GGML_MAX_NAME (64) includes the NUL
constexpr std::uint64_t kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// Smallest encodings, used to bound counts by the bytes left before anything is allocated.
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, a one-byte value
constexpr std::uint64_t kMinStringBytes = 8;
constexpr std::uint64_t kMinArrayBytes = 4 + 8;  // element type, length

// Indexed by ggml type id; name nullptr marks ids ggml does not define (4, 5, 31-33: removed types).
constexpr std::array<GgmlTypeInfo, 36> kGgmlTypes{{
    {"f32", 1, 4},       {"f16", 1, 2},        {"q4_0", 32, 18},      {"q4_1", 32, 20},
    {nullptr, 0, 0},     {nullptr, 0, 0},      {"q5_0", 32, 22},      {"q5_1", 32, 24},
    {"q8_0", 32, 34},    {"q8_1", 32, 40},     {"q2_K", 256, 84},     {"q3_K", 256, 110},
    {"q4_K", 256, 144},  {"q5_K", 256, 176},   {"q6_K", 256, 210},    {"q8_K", 256, 292},
    {"iq2_xxs", 256, 66}, {"iq2_xs", 256, 74}, {"iq3_xxs", 256, 98},  {"iq1_s", 256, 50},
    {"iq4_nl", 32, 18},  {"iq3_s", 256, 110},  {"iq2_s", 256, 82},    {"iq4_xs", 256, 136},
    {"i8", 1, 1},        {"i16", 1, 2},        {"i32", 1, 4},         {"i64", 1, 8},
    {"f64", 1, 8},       {"iq1_m", 256, 56},   {"bf16", 1, 2},        {nullptr, 0, 0},
    {nullptr, 0, 0},     {nullptr, 0, 0},      {"tq1_0", 256, 54},    {"tq2_0", 256, 66},
}};

constexpr std::array<const char*, kNumGgufTypes> kGgufTypeNames{
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

/// Bytes of one scalar of `t`, 0 for string and array.
std::uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    default: return 0;
  }
}

std::uint64_t min_value_bytes(GgufType t) {
  if (t == GgufType::string) return kMinStringBytes;
  if (t == GgufType::array) return kMinArrayBytes;
  return scalar_size(t);
}

std::string ne_str(const std::vector<std::uint64_t>& ne) {
  std::string s = "[";
  for (std::size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

/// A name, key or other text from the file, quoted and made safe to print.
std::string in_quotes(const std::string& s) { return "'" + text::escape_for_terminal(s) + "'"; }

/// The start of every message about the file at `path` (which the user gave: not escaped).
std::string file_prefix(const std::string& what, const std::string& path) { return what + " '" + path + "': "; }

// shape_str lives in tensor.cpp, which this file does not link against.
std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

/// Builds error messages that all name the file.
struct Fail {
  std::string prefix;
  [[noreturn]] void operator()(const std::string& problem) const { throw Error(prefix + problem); }
};

/// Keys and tensor names are UTF-8 in the format, and kiln looks them up and
/// prints them as text; string values may be any bytes (tokens) and are not checked.
void require_utf8(const std::string& s, const Fail& fail, const std::string& what) {
  if (!text::is_valid_utf8(s)) fail(what + " " + in_quotes(s) + " is not valid UTF-8 (keys and tensor names must be)");
}

/// Bounds-checked little-endian reads from the file bytes.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const Fail& fail) : bytes_(bytes), fail_(fail) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return bytes_.size() - pos_; }

  template <class T>
  T scalar(const std::string& what) {
    if (left() < sizeof(T)) {
      fail_("truncated: the file ends inside " + what + " at offset " + std::to_string(pos_) + " (needs " +
            std::to_string(sizeof(T)) + " bytes, " + std::to_string(left()) + " left)");
    }
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(const std::string& what) {
    const std::uint64_t at = pos_;
    const auto n = scalar<std::uint64_t>("the length of " + what);
    if (n > left()) {
      fail_(what + ": string length " + std::to_string(n) + " at offset " + std::to_string(at) +
            " runs past the end of the file (" + std::to_string(left()) + " bytes left)");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }

  /// Copies `n` bytes the caller has checked are there.
  void copy(void* dst, std::uint64_t n) {
    if (n > 0) std::memcpy(dst, bytes_.data() + pos_, static_cast<std::size_t>(n));
    pos_ += n;
  }
  const std::byte* here() const { return bytes_.data() + pos_; }

 private:
  std::span<const std::byte> bytes_;
  const Fail& fail_;
  std::uint64_t pos_ = 0;
};

GgufType read_type(Reader& r, const Fail& fail, const std::string& what) {
  const auto t = r.scalar<std::uint32_t>("the value type of " + what);
  if (t >= kNumGgufTypes) fail(what + " has unknown value type " + std::to_string(t));
  return static_cast<GgufType>(t);
}

bool read_bool(Reader& r, const Fail& fail, const std::string& what) {
  const auto b = r.scalar<std::uint8_t>(what);
  if (b > 1) fail(what + ": bool byte " + std::to_string(b) + " is neither 0 nor 1");
  return b == 1;
}

template <class T>
std::vector<T> read_scalars(Reader& r, std::uint64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));  // n * sizeof(T) <= bytes left: checked by the caller
  r.copy(v.data(), n * sizeof(T));
  return v;
}

GgufArray read_array(Reader& r, const Fail& fail, const std::string& what, int depth);

GgufValue read_value(Reader& r, const Fail& fail, GgufType t, const std::string& what, int depth) {
  switch (t) {
    case GgufType::u8: return r.scalar<std::uint8_t>(what);
    case GgufType::i8: return r.scalar<std::int8_t>(what);
    case GgufType::u16: return r.scalar<std::uint16_t>(what);
    case GgufType::i16: return r.scalar<std::int16_t>(what);
    case GgufType::u32: return r.scalar<std::uint32_t>(what);
    case GgufType::i32: return r.scalar<std::int32_t>(what);
    case GgufType::f32: return r.scalar<float>(what);
    case GgufType::boolean: return read_bool(r, fail, what);
    case GgufType::string: return r.string(what);
    case GgufType::array: return read_array(r, fail, what, depth);
    case GgufType::u64: return r.scalar<std::uint64_t>(what);
    case GgufType::i64: return r.scalar<std::int64_t>(what);
    case GgufType::f64: return r.scalar<double>(what);
  }
  fail(what + " has unknown value type " + std::to_string(static_cast<std::uint32_t>(t)));
}

GgufArray read_array(Reader& r, const Fail& fail, const std::string& what, int depth) {
  if (depth >= kMaxArrayDepth) fail(what + ": arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
  const auto et = r.scalar<std::uint32_t>("the element type of " + what);
  if (et >= kNumGgufTypes) fail(what + " is an array of unknown value type " + std::to_string(et));
  const auto type = static_cast<GgufType>(et);
  const std::uint64_t at = r.pos();
  const auto n = r.scalar<std::uint64_t>("the array length of " + what);
  const std::uint64_t min = min_value_bytes(type);
  if (n > r.left() / min) {
    fail(what + ": array length " + std::to_string(n) + " at offset " + std::to_string(at) + " of " +
         gguf_type_name(type) + " (at least " + std::to_string(min) + " bytes each) runs past the end of the file (" +
         std::to_string(r.left()) + " bytes left)");
  }
  // Scalar arrays are allocated at once (their size is now known to be in the
  // file). Strings and arrays grow as elements are read, so memory follows the
  // bytes actually parsed, not a claimed length.
  switch (type) {
    case GgufType::u8: return read_scalars<std::uint8_t>(r, n);
    case GgufType::i8: return read_scalars<std::int8_t>(r, n);
    case GgufType::u16: return read_scalars<std::uint16_t>(r, n);
    case GgufType::i16: return read_scalars<std::int16_t>(r, n);
    case GgufType::u32: return read_scalars<std::uint32_t>(r, n);
    case GgufType::i32: return read_scalars<std::int32_t>(r, n);
    case GgufType::f32: return read_scalars<float>(r, n);
    case GgufType::u64: return read_scalars<std::uint64_t>(r, n);
    case GgufType::i64: return read_scalars<std::int64_t>(r, n);
    case GgufType::f64: return read_scalars<double>(r, n);
    case GgufType::boolean: {
      std::vector<bool> v(static_cast<std::size_t>(n));
      for (std::uint64_t i = 0; i < n; ++i) v[i] = read_bool(r, fail, what + "[" + std::to_string(i) + "]");
      return v;
    }
    case GgufType::string: {
      std::vector<std::string> v;
      for (std::uint64_t i = 0; i < n; ++i) v.push_back(r.string(what + "[" + std::to_string(i) + "]"));
      return v;
    }
    case GgufType::array: {
      std::vector<GgufArray> v;
      for (std::uint64_t i = 0; i < n; ++i) v.push_back(read_array(r, fail, what + "[" + std::to_string(i) + "]", depth + 1));
      return v;
    }
  }
  fail(what + " is an array of unknown value type " + std::to_string(et));
}

GgufTensorInfo read_tensor_info(Reader& r, const Fail& fail, std::uint64_t index) {
  GgufTensorInfo t;
  t.name = r.string("the name of tensor #" + std::to_string(index));
  require_utf8(t.name, fail, "the name of tensor #" + std::to_string(index));
  const std::string where = "tensor " + in_quotes(t.name);
  const auto n_dims = r.scalar<std::uint32_t>("the n_dims of " + where);
  if (n_dims > kMaxDims) {
    fail(where + " has " + std::to_string(n_dims) + " dimensions; GGUF allows at most " + std::to_string(kMaxDims));
  }
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    t.ne.push_back(r.scalar<std::uint64_t>("dimension " + std::to_string(d) + " of " + where));
    if (t.ne.back() > kInt64Max) {
      fail(where + " dimension " + std::to_string(d) + " is " + std::to_string(t.ne.back()) +
           ", more than int64 can hold");
    }
  }
  // The element count must fit int64, and so must the product of the non-zero
  // dimensions (kiln's strides are computed from them even when a dimension is 0).
  std::uint64_t numel = 1, strides = 1;
  bool overflow = false;
  for (const std::uint64_t d : t.ne) {
    const std::uint64_t s = std::max<std::uint64_t>(d, 1);
    if (strides > kInt64Max / s) overflow = true;
    strides *= s;
    numel *= d;
  }
  if (overflow) fail(where + " dimensions " + ne_str(t.ne) + " (ne order) overflow an int64 element count");
  t.numel = static_cast<std::int64_t>(numel);
  for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it) t.shape.push_back(static_cast<std::int64_t>(*it));

  const auto type = r.scalar<std::uint32_t>("the ggml type of " + where);
  const GgmlTypeInfo* info = ggml_type_info(type);
  if (info == nullptr) fail(where + " has unknown ggml type " + std::to_string(type));
  t.type = static_cast<GgmlType>(type);
  const std::uint64_t row = t.ne.empty() ? 1 : t.ne[0];
  if (row % info->block_size != 0) {
    fail(where + " of type " + info->name + " has rows of " + std::to_string(row) +
         " elements (ne[0]), not a multiple of the block size " + std::to_string(info->block_size));
  }
  // Bytes: blocks per row x block bytes x rows, each product overflow-checked.
  std::uint64_t nbytes = row / info->block_size;
  overflow = nbytes > kInt64Max / info->type_size;
  nbytes *= info->type_size;
  for (std::size_t d = 1; d < t.ne.size() && !overflow; ++d) {
    if (t.ne[d] != 0 && nbytes > kInt64Max / t.ne[d]) overflow = true;
    nbytes *= t.ne[d];
  }
  if (overflow) fail(where + " of type " + info->name + " and dimensions " + ne_str(t.ne) + " overflows its byte size");
  t.nbytes = nbytes;
  t.offset = r.scalar<std::uint64_t>("the data offset of " + where);
  return t;
}

}  // namespace

// ---- names and types ---------------------------------------------------------------

const char* gguf_type_name(GgufType t) {
  const auto i = static_cast<std::uint32_t>(t);
  return i < kNumGgufTypes ? kGgufTypeNames[i] : "unknown";
}

const GgmlTypeInfo* ggml_type_info(std::uint32_t id) {
  if (id >= kGgmlTypes.size() || kGgmlTypes[id].name == nullptr) return nullptr;
  return &kGgmlTypes[id];
}

const char* ggml_type_name(GgmlType t) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<std::uint32_t>(t));
  if (info == nullptr) throw Error("unknown ggml type " + std::to_string(static_cast<std::uint32_t>(t)));
  return info->name;
}

namespace detail {
void gguf_type_mismatch(const std::string& what, GgufType have, GgufType want) {
  throw Error(what + " holds " + gguf_type_name(have) + ", not " + gguf_type_name(want));
}
}  // namespace detail

std::size_t GgufArray::size() const {
  return std::visit([](const auto& v) { return v.size(); }, items);
}

bool GgufArray::operator==(const GgufArray& other) const { return items == other.items; }

// ---- parsing -----------------------------------------------------------------------

GgufHeader parse_gguf(std::span<const std::byte> bytes, const std::string& name) {
  const Fail fail{file_prefix("GGUF file", name)};
  Reader r(bytes, fail);
  GgufHeader h;

  if (bytes.size() < 4) fail("truncated: " + std::to_string(bytes.size()) + " bytes, too short for the magic \"GGUF\"");
  const auto magic = r.scalar<std::uint32_t>("the magic");
  if (magic != kMagic) {
    char hex[32];
    const auto* m = reinterpret_cast<const unsigned char*>(bytes.data());
    std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", m[0], m[1], m[2], m[3]);
    fail(std::string("bad magic (bytes ") + hex + "), expected \"GGUF\" (47 47 55 46): not a GGUF file");
  }
  h.version = r.scalar<std::uint32_t>("the version");
  if (h.version != 2 && h.version != 3) {
    if (h.version != 0 && (h.version & 0xffff) == 0) {
      fail("version field " + std::to_string(h.version) + " looks byte-swapped: big-endian GGUF files are not supported");
    }
    fail("unsupported GGUF version " + std::to_string(h.version) + " (kiln reads versions 2 and 3)");
  }
  const auto n_tensors = r.scalar<std::uint64_t>("the tensor count");
  const auto n_kv = r.scalar<std::uint64_t>("the metadata key/value count");
  // Each count is bounded by the bytes that follow, at the smallest encoding of
  // an entry, before anything is read or allocated for it.
  if (n_tensors > r.left() / kMinTensorInfoBytes) {
    fail("tensor count " + std::to_string(n_tensors) + " cannot fit: each tensor info takes at least " +
         std::to_string(kMinTensorInfoBytes) + " bytes and " + std::to_string(r.left()) + " bytes follow the header");
  }
  if (n_kv > r.left() / kMinKvBytes) {
    fail("metadata key/value count " + std::to_string(n_kv) + " cannot fit: each takes at least " +
         std::to_string(kMinKvBytes) + " bytes and " + std::to_string(r.left()) + " bytes follow the header");
  }
  if (n_tensors * kMinTensorInfoBytes + n_kv * kMinKvBytes > r.left()) {
    fail("tensor count " + std::to_string(n_tensors) + " and metadata count " + std::to_string(n_kv) +
         " cannot both fit in the " + std::to_string(r.left()) + " bytes that follow the header");
  }

  std::unordered_map<std::string, std::uint64_t> keys;
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.string("metadata key #" + std::to_string(i));
    require_utf8(key, fail, "metadata key #" + std::to_string(i));
    const std::string what = "metadata key " + in_quotes(key);
    const GgufType type = read_type(r, fail, what);
    GgufValue value = read_value(r, fail, type, what, 0);
    const auto [it, fresh] = keys.emplace(key, i);
    if (!fresh) {
      fail("metadata key " + in_quotes(key) + " appears twice (entries #" + std::to_string(it->second) + " and #" +
           std::to_string(i) + ")");
    }
    h.metadata.emplace_back(std::move(key), std::move(value));
  }
  if (const auto it = keys.find("general.alignment"); it != keys.end()) {
    const GgufValue& v = h.metadata[it->second].second;
    if (v.type() != GgufType::u32) fail(std::string("general.alignment must be a u32, not ") + gguf_type_name(v.type()));
    const std::uint32_t a = std::get<std::uint32_t>(v.value);
    if (!std::has_single_bit(a)) fail("general.alignment " + std::to_string(a) + " is not a power of two");
    h.alignment = a;
  } else {
    h.alignment = kDefaultAlignment;
  }

  std::unordered_map<std::string, std::uint64_t> names;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t = read_tensor_info(r, fail, i);
    const auto [it, fresh] = names.emplace(t.name, i);
    if (!fresh) {
      fail("tensor name " + in_quotes(t.name) + " appears twice (tensors #" + std::to_string(it->second) + " and #" +
           std::to_string(i) + ")");
    }
    h.tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment (the header
  // end is at most the file size and the alignment below 2^32: no overflow).
  const std::uint64_t end = r.pos();
  h.data_offset = (end + h.alignment - 1) / h.alignment * h.alignment;
  if (h.data_offset > bytes.size()) {
    if (!h.tensors.empty()) {
      fail("truncated: the header ends at offset " + std::to_string(end) + " and the data section should start at " +
           std::to_string(h.data_offset) + " (alignment " + std::to_string(h.alignment) + ") but the file has " +
           std::to_string(bytes.size()) + " bytes");
    }
    h.data_offset = bytes.size();  // no tensors: the padding may be missing
  }
  h.data_size = bytes.size() - h.data_offset;

  // Every tensor lies inside the data section at an aligned offset, and no two overlap.
  for (const auto& t : h.tensors) {
    const std::string where = "tensor " + in_quotes(t.name);
    if (t.offset % h.alignment != 0) {
      fail(where + " data offset " + std::to_string(t.offset) + " is misaligned: not a multiple of the alignment " +
           std::to_string(h.alignment));
    }
    if (t.offset > h.data_size || t.nbytes > h.data_size - t.offset) {
      fail(where + " data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
           " bytes) runs past the end of the " + std::to_string(h.data_size) + "-byte data section");
    }
  }
  std::vector<const GgufTensorInfo*> order;
  for (const auto& t : h.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
    return std::tie(a->offset, a->nbytes) < std::tie(b->offset, b->nbytes);
  });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& a = *order[i - 1];
    const GgufTensorInfo& b = *order[i];
    if (b.offset < a.offset + a.nbytes) {
      fail("tensor " + in_quotes(b.name) + " data at offset " + std::to_string(b.offset) + " overlaps tensor " +
           in_quotes(a.name) + " at [" + std::to_string(a.offset) + ", " + std::to_string(a.offset + a.nbytes) + ")");
    }
  }
  return h;
}

// ---- GgufFile ------------------------------------------------------------------------

GgufFile GgufFile::open(const std::filesystem::path& path) {
  auto mapping = std::make_shared<GgufMapping>(path);
  GgufFile f;
  f.path_ = path;
  f.header_ = parse_gguf({mapping->file.data(), mapping->file.size()}, path.string());
  for (std::size_t i = 0; i < f.header_.metadata.size(); ++i) f.key_index_.emplace(f.header_.metadata[i].first, i);
  for (std::size_t i = 0; i < f.header_.tensors.size(); ++i) f.tensor_index_.emplace(f.header_.tensors[i].name, i);
  f.mapping_ = std::move(mapping);
  return f;
}

void GgufFile::fail(const std::string& problem) const {
  throw Error(file_prefix("GGUF file", path_.string()) + problem);
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &header_.metadata[it->second].second;
}

const GgufValue& GgufFile::at(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) fail("no metadata key " + in_quotes(key));
  return *v;
}

const GgufTensorInfo& GgufFile::info(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail("no tensor named " + in_quotes(name));
  return header_.tensors[it->second];
}

std::span<const std::byte> GgufFile::bytes(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  return {mapping_->file.data() + header_.data_offset + t.offset, static_cast<std::size_t>(t.nbytes)};
}

// ---- (de)quantization -----------------------------------------------------------------

namespace {

float load_f16(const std::byte* p) {
  f16 h;
  std::memcpy(&h.bits, p, 2);
  return static_cast<float>(h);
}

void store_f16(std::byte* p, float v) {
  const f16 h(v);
  std::memcpy(p, &h.bits, 2);
}

/// Checks that `bytes` holds exactly `n` elements of `type`; `op` names the caller.
void check_size(const char* op, GgmlType type, std::uint64_t n, std::uint64_t bytes) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<std::uint32_t>(type));
  if (info == nullptr) throw Error(std::string(op) + ": unknown ggml type " + std::to_string(static_cast<std::uint32_t>(type)));
  if (n % info->block_size != 0) {
    throw Error(std::string(op) + ": " + std::to_string(n) + " " + info->name +
                " elements are not a whole number of blocks of " + std::to_string(info->block_size));
  }
  const std::uint64_t blocks = n / info->block_size;
  if (bytes / info->type_size != blocks || bytes % info->type_size != 0) {
    throw Error(std::string(op) + ": " + std::to_string(n) + " " + info->name + " elements take " +
                std::to_string(blocks) + " x " + std::to_string(info->type_size) + " bytes, got " + std::to_string(bytes));
  }
}

[[noreturn]] void unsupported(const char* op, GgmlType type) {
  throw Error(std::string(op) + ": kiln does not decode ggml type " + ggml_type_name(type) +
              " (it handles f32, f16, bf16, q8_0 and q4_0)");
}

}  // namespace

void gguf_dequantize(GgmlType type, std::span<const std::byte> src, std::span<float> dst) {
  const char* op = "gguf_dequantize";
  check_size(op, type, dst.size(), src.size());
  const std::byte* s = src.data();
  float* out = dst.data();
  const std::size_t n = dst.size();
  switch (type) {
    case GgmlType::f32:
      if (n > 0) std::memcpy(out, s, n * 4);
      return;
    case GgmlType::f16:
      for (std::size_t i = 0; i < n; ++i) out[i] = load_f16(s + 2 * i);
      return;
    case GgmlType::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        bf16 b;
        std::memcpy(&b.bits, s + 2 * i, 2);
        out[i] = static_cast<float>(b);
      }
      return;
    case GgmlType::q8_0:
      // Block: f16 scale d, then 32 int8 q; x = q * d.
      for (std::size_t b = 0; b < n / kQuantBlock; ++b, s += kQ8_0BlockBytes, out += kQuantBlock) {
        const float d = load_f16(s);
        for (std::size_t j = 0; j < kQuantBlock; ++j) out[j] = static_cast<float>(static_cast<std::int8_t>(s[2 + j])) * d;
      }
      return;
    case GgmlType::q4_0:
      // Block: f16 scale d, then 16 bytes; byte j holds element j in its low
      // nibble and element j + 16 in its high nibble; x = (nibble - 8) * d.
      for (std::size_t b = 0; b < n / kQuantBlock; ++b, s += kQ4_0BlockBytes, out += kQuantBlock) {
        const float d = load_f16(s);
        for (std::size_t j = 0; j < kQuantBlock / 2; ++j) {
          const auto q = std::to_integer<int>(s[2 + j]);
          out[j] = static_cast<float>((q & 0x0f) - 8) * d;
          out[j + kQuantBlock / 2] = static_cast<float>((q >> 4) - 8) * d;
        }
      }
      return;
    default: unsupported(op, type);
  }
}

std::vector<std::byte> gguf_quantize(GgmlType type, std::span<const float> src) {
  const char* op = "gguf_quantize";
  const GgmlTypeInfo* info = ggml_type_info(static_cast<std::uint32_t>(type));
  if (info == nullptr) throw Error(std::string(op) + ": unknown ggml type " + std::to_string(static_cast<std::uint32_t>(type)));
  const std::size_t n = src.size();
  if (n % info->block_size != 0) {
    throw Error(std::string(op) + ": " + std::to_string(n) + " values are not a whole number of " + info->name +
                " blocks of " + std::to_string(info->block_size));
  }
  std::vector<std::byte> out(n / info->block_size * info->type_size);
  std::byte* o = out.data();
  const float* x = src.data();
  switch (type) {
    case GgmlType::f32:
      if (n > 0) std::memcpy(o, x, n * 4);
      break;
    case GgmlType::f16:
      for (std::size_t i = 0; i < n; ++i) store_f16(o + 2 * i, x[i]);
      break;
    case GgmlType::bf16:
      for (std::size_t i = 0; i < n; ++i) {
        const bf16 b(x[i]);
        std::memcpy(o + 2 * i, &b.bits, 2);
      }
      break;
    case GgmlType::q8_0:
      // ggml's reference: d = max|x| / 127, q = round-half-away(x / d).
      for (std::size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock, o += kQ8_0BlockBytes) {
        float amax = 0;
        for (std::size_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        store_f16(o, d);
        for (std::size_t j = 0; j < kQuantBlock; ++j) {
          const float q = std::round(x[j] * id);
          // The clamp only matters for non-finite input (a NaN or inf would be UB to convert).
          const float c = q >= 127.0f ? 127.0f : (q <= -127.0f ? -127.0f : (q == q ? q : 0.0f));
          o[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(c));
        }
      }
      break;
    case GgmlType::q4_0:
      // ggml's reference: m = the value of largest magnitude, d = m / -8,
      // q = min(15, trunc(x / d + 8.5)). gguf-py evaluates x * (1/d) + 8.5 in
      // double (one rounding, as the C code gets with FMA) and then rounds to
      // float before truncating; doing the same makes the bytes identical.
      for (std::size_t b = 0; b < n / kQuantBlock; ++b, x += kQuantBlock, o += kQ4_0BlockBytes) {
        float amax = 0, m = 0;
        for (std::size_t j = 0; j < kQuantBlock; ++j) {
          if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), m = x[j];
        }
        const float d = m / -8.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        store_f16(o, d);
        std::array<std::uint8_t, kQuantBlock> q{};
        for (std::size_t j = 0; j < kQuantBlock; ++j) {
          const float v = std::trunc(static_cast<float>(static_cast<double>(x[j]) * static_cast<double>(id) + 8.5));
          q[j] = v >= 15.0f ? 15 : (v >= 0.0f ? static_cast<std::uint8_t>(v) : 0);  // NaN -> 0
        }
        for (std::size_t j = 0; j < kQuantBlock / 2; ++j) {
          o[2 + j] = static_cast<std::byte>(q[j] | (q[j + kQuantBlock / 2] << 4));
        }
      }
      break;
    default:
      throw Error(std::string(op) + ": kiln does not encode ggml type " + info->name +
                  " (it handles f32, f16, bf16, q8_0 and q4_0)");
  }
  return out;
}

// ---- writing --------------------------------------------------------------------------

namespace {

class HeaderWriter {
 public:
  template <class T>
  void scalar(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void string(const std::string& s) {
    scalar<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }
  void array(const GgufArray& a) {
    scalar<std::uint32_t>(static_cast<std::uint32_t>(a.type()));
    scalar<std::uint64_t>(a.size());
    std::visit([&](const auto& items) { elements(items); }, a.items);
  }
  void value(const GgufValue& v) {
    std::visit([&](const auto& x) { one(x); }, v.value);
  }
  std::vector<std::byte>& bytes() { return out_; }

 private:
  // One metadata value or array element, in its on-disk encoding.
  template <class T>
  void one(const T& x) {
    if constexpr (std::is_same_v<T, std::string>) {
      string(x);
    } else if constexpr (std::is_same_v<T, GgufArray>) {
      array(x);
    } else if constexpr (std::is_same_v<T, bool>) {
      scalar<std::uint8_t>(x ? 1 : 0);
    } else {
      scalar<T>(x);
    }
  }
  template <class T>
  void elements(const std::vector<T>& items) {
    for (const auto& x : items) one(x);
  }
  std::vector<std::byte> out_;
};

std::uint64_t pad_to(std::uint64_t n, std::uint64_t align) { return (align - n % align) % align; }

}  // namespace

void write_gguf(const std::filesystem::path& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorData>& tensors) {
  const Fail fail{file_prefix("write_gguf", path.string())};

  std::uint32_t alignment = kDefaultAlignment;
  std::unordered_set<std::string> keys;
  for (const auto& [key, value] : metadata) {
    require_utf8(key, fail, "metadata key");
    if (!keys.insert(key).second) fail("metadata key " + in_quotes(key) + " given twice");
    if (key == "general.alignment") {
      if (value.type() != GgufType::u32) fail(std::string("general.alignment must be a u32, not ") + gguf_type_name(value.type()));
      alignment = std::get<std::uint32_t>(value.value);
      if (!std::has_single_bit(alignment)) fail("general.alignment " + std::to_string(alignment) + " is not a power of two");
    }
  }

  HeaderWriter w;
  w.scalar<std::uint32_t>(kMagic);
  w.scalar<std::uint32_t>(3);
  w.scalar<std::uint64_t>(tensors.size());
  w.scalar<std::uint64_t>(metadata.size());
  for (const auto& [key, value] : metadata) {
    w.string(key);
    w.scalar<std::uint32_t>(static_cast<std::uint32_t>(value.type()));
    w.value(value);
  }

  std::unordered_set<std::string> names;
  std::vector<std::uint64_t> sizes;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string where = "tensor " + in_quotes(t.name);
    require_utf8(t.name, fail, "tensor name");
    if (!names.insert(t.name).second) fail("tensor name " + in_quotes(t.name) + " given twice");
    if (t.name.size() > kMaxNameBytes) {
      fail(where + ": name of " + std::to_string(t.name.size()) + " bytes is longer than llama.cpp's limit of " +
           std::to_string(kMaxNameBytes));
    }
    if (t.shape.size() > kMaxDims) fail(where + " has " + std::to_string(t.shape.size()) + " dimensions; GGUF allows at most 4");
    const GgmlTypeInfo* info = ggml_type_info(static_cast<std::uint32_t>(t.type));
    if (info == nullptr) fail(where + " has unknown ggml type " + std::to_string(static_cast<std::uint32_t>(t.type)));
    std::uint64_t numel = 1;
    for (const std::int64_t d : t.shape) {
      if (d < 0) fail(where + " has a negative dimension in shape " + shape_text(t.shape));
      const auto ud = static_cast<std::uint64_t>(d);
      if (ud != 0 && numel > kInt64Max / ud) fail(where + " shape " + shape_text(t.shape) + " overflows int64");
      numel *= ud;
    }
    const std::uint64_t row = t.shape.empty() ? 1 : static_cast<std::uint64_t>(t.shape.back());
    if (row % info->block_size != 0) {
      fail(where + " of type " + info->name + " has rows of " + std::to_string(row) +
           " elements (the last dimension), not a multiple of the block size " + std::to_string(info->block_size));
    }
    // numel fits int64 and type_size <= block_size * 8, so this cannot overflow uint64.
    const std::uint64_t nbytes = numel / info->block_size * info->type_size;
    if (t.data.size() != nbytes) {
      fail(where + " of type " + info->name + " and shape " + shape_text(t.shape) + " needs " + std::to_string(nbytes) +
           " bytes of data, got " + std::to_string(t.data.size()));
    }
    w.string(t.name);
    w.scalar<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) w.scalar<std::uint64_t>(static_cast<std::uint64_t>(*it));
    w.scalar<std::uint32_t>(static_cast<std::uint32_t>(t.type));
    w.scalar<std::uint64_t>(offset);
    offset += nbytes + pad_to(nbytes, alignment);
    sizes.push_back(nbytes);
  }

  // Padding comes from one block of zeros, repeated where the alignment is larger.
  static const std::array<std::byte, 4096> zeros{};
  std::vector<std::span<const std::byte>> chunks;
  const auto pad = [&](std::uint64_t n) {
    for (std::uint64_t left = pad_to(n, alignment); left > 0;) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
      chunks.emplace_back(zeros.data(), k);
      left -= k;
    }
  };
  std::vector<std::byte>& header = w.bytes();
  chunks.emplace_back(header);
  pad(header.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i] > 0) chunks.push_back(tensors[i].data);
    pad(sizes[i]);
  }
  write_file_atomically(path, chunks, "write_gguf");
}

}  // namespace kiln::io
