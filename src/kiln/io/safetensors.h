#pragma once
// Reading and writing the safetensors checkpoint format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then
// the raw little-endian tensor bytes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::io {

/// One tensor as the file describes it.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  ///< as in the file: "F32", "BF16", "F8_E4M3", ...
  Shape shape;
  std::uint64_t begin = 0, end = 0;  ///< byte offsets in the data section
};

/// The kiln dtype for a safetensors dtype name, or nullopt where kiln has none
/// (I8, I16, U16, U32, U64, F8_*, F4, F6_*, C64) or the name is unknown.
std::optional<DType> dtype_from_safetensors(const std::string& name);
/// The safetensors dtype name for a kiln dtype ("F32", "BOOL", ...).
const char* safetensors_dtype_name(DType dtype);

struct SafetensorsMapping;  // the memory-mapped file (safetensors.cpp)

/// A validated, memory-mapped safetensors file. Copies share the mapping. The
/// header must be UTF-8 (JSON requires it; a tensor name, metadata key or value
/// that is not is refused, the message showing its bytes escaped). Names may still
/// hold control characters (JSON "\u001b"): messages quote them through
/// text::escape_for_terminal, and so must anything that prints them.
class SafetensorsFile {
 public:
  /// Memory-maps and validates `path`; throws kiln::Error naming the file and the problem.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  /// In file order of data offsets (zero-length tensors at the same offset by name).
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  /// The "__metadata__" object (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// The entry called `name`; throws naming the file and the tensor if absent.
  const SafetensorsEntry& entry(const std::string& name) const;

  /// Zero-copy CPU Tensor viewing the mapped bytes; its Storage keeps the mapping
  /// alive. The mapping is private copy-on-write, so writing into the tensor never
  /// changes the file. Bytes not aligned for the element type are copied instead.
  /// Throws (naming the tensor and dtype) for file dtypes kiln has no DType for
  /// (F8_*, U16, I16, ...) and for BOOL bytes other than 0 and 1.
  Tensor tensor(const std::string& name) const;
  /// The raw bytes of tensor `name` (any dtype).
  std::span<const std::byte> bytes(const std::string& name) const;

 private:
  SafetensorsFile() = default;

  std::filesystem::path path_;
  std::shared_ptr<const SafetensorsMapping> mapping_;
  std::size_t data_start_ = 0;  // 8 + header length
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Writes atomically: temp file in the same directory, fsync, rename. Tensors are
/// copied to the CPU and made contiguous. The layout is byte-for-byte what the
/// Python `safetensors` library writes: tensors ordered by dtype (descending, in
/// the format's dtype order) then name, compact JSON header with "__metadata__"
/// first (keys sorted; omitted when empty), padded with spaces to a multiple of 8.
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace kiln::io
