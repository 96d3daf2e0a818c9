#pragma once
// Reading and writing GGUF version 3, the single-file model format of ggml and
// llama.cpp (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Layout,
// all integers little-endian:
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata: key string, u32 value type, value (an array is u32 element type,
//             u64 length, elements; arrays may hold arrays),
//   tensor infos: name string, u32 n_dims (<= 4), u64 ne[n_dims], u32 ggml type,
//                 u64 offset into the data section,
//   zero padding to `general.alignment` (u32, default 32), then the data section.
// A string is a u64 byte length and the bytes (no NUL). ggml lists dimensions
// fastest-varying first (ne[0] is the row length); kiln shapes are row-major, so
// a tensor's kiln shape is ne reversed, as in gguf-py's numpy arrays.
//
// gguf.cpp (parsing, validation, (de)quantization, the raw writer) uses no
// Tensor code, so it can be compiled with only the text helpers it checks and
// escapes names with (text/unicode.cpp, text/escape.cpp), as the fuzz targets
// do; the functions taking or returning a kiln Tensor live in gguf_tensor.cpp.
//
// Metadata keys and tensor names must be UTF-8 (the reader and the writer
// refuse others); string values may hold any bytes (byte-level tokens). Every
// message that quotes a key or name shows it through text::escape_for_terminal.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/core/tensor.h"

namespace kiln::io {

// ---- metadata values --------------------------------------------------------

/// Metadata value types, numbered as in the file.
enum class GgufType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
inline constexpr std::uint32_t kNumGgufTypes = 13;
/// "u8", "i8", ..., "string", "array", ... ("unknown" for codes past f64).
const char* gguf_type_name(GgufType t);

struct GgufArray;

/// A typed list of metadata values. The variant's alternative index is the
/// element type's code, so `type()` is just `items.index()`. The elements of an
/// array of arrays are arrays, each with its own element type.
struct GgufArray {
  using Items = std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
                             std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>,
                             std::vector<float>, std::vector<bool>, std::vector<std::string>,
                             std::vector<GgufArray>, std::vector<std::uint64_t>, std::vector<std::int64_t>,
                             std::vector<double>>;
  Items items;

  GgufArray() = default;
  template <class T>
    requires std::is_constructible_v<Items, std::vector<T>&&>
  GgufArray(std::vector<T> v) : items(std::move(v)) {}  // NOLINT: implicit on purpose, as for GgufValue

  GgufType type() const { return static_cast<GgufType>(items.index()); }
  std::size_t size() const;
  /// The elements as std::vector<T>; throws kiln::Error naming both types if T is not the element type.
  template <class T>
  const std::vector<T>& get() const;

  bool operator==(const GgufArray& other) const;
};

/// One metadata value. The variant's alternative index is the type's code.
struct GgufValue {
  using Variant = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
                               float, bool, std::string, GgufArray, std::uint64_t, std::int64_t, double>;
  Variant value;

  GgufValue() = default;
  /// From one of the alternatives (write GgufValue(std::uint32_t{32}) for a
  /// type other than int/int64_t/double/...), a std::vector<T> (an array of
  /// T), a GgufArray, or a C string.
  template <class T>
    requires(!std::is_same_v<std::remove_cvref_t<T>, GgufValue> &&
             std::is_constructible_v<Variant, T &&>)
  GgufValue(T&& v) : value(std::forward<T>(v)) {}  // NOLINT: implicit on purpose
  GgufValue(const char* s) : value(std::string(s)) {}              // NOLINT

  GgufType type() const { return static_cast<GgufType>(value.index()); }
  /// The value as T; throws kiln::Error naming both types if it holds another.
  template <class T>
  const T& get() const;

  bool operator==(const GgufValue& other) const { return value == other.value; }
};

/// Metadata in file order.
using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

/// The GgufType whose value is a T (std::string -> string, GgufArray -> array).
template <class T>
constexpr GgufType gguf_type_of() {
  using V = GgufValue::Variant;
  constexpr auto index = []<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t found = std::variant_npos;
    ((std::is_same_v<T, std::variant_alternative_t<I, V>> ? (found = I, 0) : 0), ...);
    return found;
  }(std::make_index_sequence<std::variant_size_v<V>>{});
  static_assert(index != std::variant_npos, "not a GGUF value type");
  return static_cast<GgufType>(index);
}

// ---- tensor types -------------------------------------------------------------

/// ggml tensor types, numbered as in the file. kiln decodes f32, f16, bf16, q8_0
/// and q4_0 (and views f64/i32/i64 as kiln tensors); the other types are
/// recognised so their layout is validated, and their bytes can be read raw.
enum class GgmlType : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35,
};

/// How a ggml type stores elements: `block_size` elements in `type_size` bytes.
struct GgmlTypeInfo {
  const char* name;  ///< as ggml prints it: "f32", "q8_0", "q6_K", ...
  std::uint32_t block_size;
  std::uint32_t type_size;
};
/// The layout of ggml type `id`, or nullptr for an id ggml does not define.
const GgmlTypeInfo* ggml_type_info(std::uint32_t id);
/// The name of a known type (throws kiln::Error for an unknown one).
const char* ggml_type_name(GgmlType t);

inline constexpr std::size_t kQ8_0BlockBytes = 34;  ///< f16 scale + 32 int8
inline constexpr std::size_t kQ4_0BlockBytes = 18;  ///< f16 scale + 16 bytes of 4-bit pairs
inline constexpr std::size_t kQuantBlock = 32;      ///< elements per q8_0 / q4_0 block

/// Decodes `src`, which holds `dst.size()` elements of type f32, f16, bf16, q8_0
/// or q4_0, into floats. Throws kiln::Error naming the type for any other type,
/// for an element count that is not a whole number of blocks, or when `src` is
/// not exactly the size those elements take.
void gguf_dequantize(GgmlType type, std::span<const std::byte> src, std::span<float> dst);

/// Encodes floats as f32, f16, bf16, q8_0 or q4_0 with ggml's reference
/// rounding (bit-identical to gguf-py's `quants.quantize`). Quantized types need
/// a multiple of 32 values.
std::vector<std::byte> gguf_quantize(GgmlType type, std::span<const float> src);

// ---- reading ------------------------------------------------------------------

/// One tensor as the file describes it.
struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::vector<std::uint64_t> ne;   ///< ggml order: ne[0] is the row length
  Shape shape;                     ///< kiln (row-major) order: ne reversed
  std::int64_t numel = 0;
  std::uint64_t offset = 0;  ///< from the start of the data section
  std::uint64_t nbytes = 0;
};

/// Everything in a GGUF file but the tensor data, validated.
struct GgufHeader {
  std::uint32_t version = 3;
  GgufMetadata metadata;                ///< in file order
  std::vector<GgufTensorInfo> tensors;  ///< in file order
  std::uint32_t alignment = 32;
  std::uint64_t data_offset = 0;  ///< file offset of the data section
  std::uint64_t data_size = 0;    ///< bytes from data_offset to the end of the file
};

/// Parses and validates a whole GGUF file held in `bytes` (`name` is the file
/// name used in errors). Every problem is a kiln::Error "GGUF file '<name>': ..."
/// naming it: bad magic, unsupported version, truncation anywhere, counts larger
/// than the file could hold, string/array lengths past the end of the file,
/// unknown value or ggml types, duplicate keys or tensor names, more than 4
/// dimensions, element counts or byte sizes that overflow int64, quantized rows
/// that are not a whole number of blocks, a bad `general.alignment`, misaligned,
/// overlapping or out-of-file tensor data. No allocation is sized by a field
/// before that field has been checked against the bytes left in the file.
GgufHeader parse_gguf(std::span<const std::byte> bytes, const std::string& name);

struct GgufMapping;  // the memory-mapped file (gguf.cpp)

/// A validated, memory-mapped GGUF file. Copies share the mapping.
class GgufFile {
 public:
  /// Memory-maps and validates `path` (see parse_gguf for what is checked).
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const GgufHeader& header() const { return header_; }
  std::uint32_t version() const { return header_.version; }
  std::uint32_t alignment() const { return header_.alignment; }

  const GgufMetadata& metadata() const { return header_.metadata; }
  bool has(const std::string& key) const { return key_index_.count(key) != 0; }
  /// The value for `key`, or nullptr.
  const GgufValue* find(const std::string& key) const;
  /// The value for `key`; throws naming the file and key if absent.
  const GgufValue& at(const std::string& key) const;
  /// The value for `key` as T; throws naming the file, key and both types on a mismatch.
  template <class T>
  const T& get(const std::string& key) const;

  /// In file order.
  const std::vector<GgufTensorInfo>& tensors() const { return header_.tensors; }
  bool contains(const std::string& name) const { return tensor_index_.count(name) != 0; }
  /// The tensor called `name`; throws naming the file and tensor if absent.
  const GgufTensorInfo& info(const std::string& name) const;
  /// The raw bytes of tensor `name` (any type), viewing the mapping.
  std::span<const std::byte> bytes(const std::string& name) const;

  /// Zero-copy CPU Tensor (shape = info.shape) viewing the mapped bytes of an
  /// f32, f16, bf16, f64, i32 or i64 tensor; its Storage keeps the mapping alive.
  /// The mapping is private copy-on-write: writing into the tensor never changes
  /// the file. Data not aligned for the element type (an alignment below the
  /// element size) is copied. Throws naming the tensor and type for other types.
  Tensor tensor(const std::string& name) const;
  /// A new f32 tensor decoded from an f32, f16, bf16, q8_0 or q4_0 tensor.
  Tensor dequantize(const std::string& name) const;

 private:
  GgufFile() = default;
  [[noreturn]] void fail(const std::string& problem) const;

  std::filesystem::path path_;
  std::shared_ptr<const GgufMapping> mapping_;
  GgufHeader header_;
  std::unordered_map<std::string, std::size_t> key_index_;
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

// ---- writing ------------------------------------------------------------------

/// A tensor to write: `data` holds exactly the bytes `type` and `shape` need
/// (row-major; the file gets ne = shape reversed). The caller keeps it alive.
struct GgufTensorData {
  std::string name;
  GgmlType type = GgmlType::f32;
  Shape shape;
  std::span<const std::byte> data;
};

/// Writes a GGUF version 3 file atomically (temporary file in the same
/// directory, fsync, rename), metadata and tensors in the order given, each
/// tensor's data at the next multiple of the alignment (`general.alignment` in
/// `metadata` when present: a u32 power of two; else 32), as gguf-py lays it out.
/// Throws kiln::Error naming the file and the problem for duplicate keys or
/// names, names of 64 bytes or more (llama.cpp's limit), more than 4 dimensions,
/// quantized rows that are not a multiple of 32, or data of the wrong size.
void write_gguf(const std::filesystem::path& path, const GgufMetadata& metadata,
                const std::vector<GgufTensorData>& tensors);

/// write_gguf for kiln tensors (f32, f16, bf16, f64, i32, i64), copied to the
/// CPU and made contiguous.
void save_gguf(const std::filesystem::path& path, const GgufMetadata& metadata,
               const std::vector<std::pair<std::string, Tensor>>& tensors);

// ---- template definitions -------------------------------------------------------

namespace detail {
[[noreturn]] void gguf_type_mismatch(const std::string& what, GgufType have, GgufType want);
}

template <class T>
const std::vector<T>& GgufArray::get() const {
  constexpr auto want = static_cast<std::size_t>(gguf_type_of<T>());
  if (items.index() != want) detail::gguf_type_mismatch("GGUF array", type(), static_cast<GgufType>(want));
  return std::get<want>(items);
}

template <class T>
const T& GgufValue::get() const {
  constexpr auto want = static_cast<std::size_t>(gguf_type_of<T>());
  if (value.index() != want) detail::gguf_type_mismatch("GGUF value", type(), static_cast<GgufType>(want));
  return std::get<want>(value);
}

template <class T>
const T& GgufFile::get(const std::string& key) const {
  const GgufValue& v = at(key);
  if (v.type() != gguf_type_of<T>()) {
    fail("metadata key '" + key + "' holds " + gguf_type_name(v.type()) + ", not " +
         gguf_type_name(gguf_type_of<T>()));
  }
  return std::get<T>(v.value);
}

}  // namespace kiln::io
