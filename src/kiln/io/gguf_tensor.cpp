// The parts of GGUF I/O that make or take kiln Tensors (gguf.cpp stays tensor-free).
#include <cstdint>
#include <cstring>

#include "kiln/io/gguf.h"
#include "kiln/text/escape.h"

namespace kiln::io {
namespace {

/// A tensor name, quoted and made safe to print.
std::string quoted_name(const std::string& s) { return "'" + text::escape_for_terminal(s) + "'"; }

/// The kiln dtype a ggml type is viewed as, if any.
std::optional<DType> kiln_dtype(GgmlType t) {
  switch (t) {
    case GgmlType::f32: return DType::f32;
    case GgmlType::f16: return DType::f16;
    case GgmlType::bf16: return DType::bf16;
    case GgmlType::f64: return DType::f64;
    case GgmlType::i32: return DType::i32;
    case GgmlType::i64: return DType::i64;
    default: return std::nullopt;
  }
}

std::optional<GgmlType> ggml_type_for(DType t) {
  switch (t) {
    case DType::f32: return GgmlType::f32;
    case DType::f16: return GgmlType::f16;
    case DType::bf16: return GgmlType::bf16;
    case DType::f64: return GgmlType::f64;
    case DType::i32: return GgmlType::i32;
    case DType::i64: return GgmlType::i64;
    default: return std::nullopt;
  }
}

}  // namespace

Tensor GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  const std::optional<DType> dt = kiln_dtype(t.type);
  if (!dt) {
    fail("tensor " + quoted_name(name) + " has ggml type " + ggml_type_name(t.type) +
         ", which kiln has no dtype for (read it with bytes(), or dequantize() for q8_0/q4_0)");
  }
  const std::span<const std::byte> raw = bytes(name);
  auto* ptr = const_cast<std::byte*>(raw.data());  // the mapping is private and writable
  if (reinterpret_cast<std::uintptr_t>(ptr) % dtype_size(*dt) != 0) {
    // Only possible with general.alignment below the element size: copy.
    Tensor out = Tensor::empty(t.shape, *dt);
    if (!raw.empty()) std::memcpy(out.raw_data(), raw.data(), raw.size());
    return out;
  }
  auto storage = std::make_shared<Storage>(ptr, raw.size(), kCPU, [keep = mapping_]() {});
  return Tensor::from_storage(std::move(storage), t.shape, *dt);
}

Tensor GgufFile::dequantize(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  switch (t.type) {
    case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: case GgmlType::q8_0: case GgmlType::q4_0: break;
    default:
      fail("tensor " + quoted_name(name) + " has ggml type " + ggml_type_name(t.type) +
           ", which kiln does not decode (it handles f32, f16, bf16, q8_0 and q4_0)");
  }
  Tensor out = Tensor::empty(t.shape, DType::f32);
  gguf_dequantize(t.type, bytes(name), {out.data<float>(), static_cast<std::size_t>(t.numel)});
  return out;
}

void save_gguf(const std::filesystem::path& path, const GgufMetadata& metadata,
               const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<Tensor> keep;  // contiguous CPU copies, alive until written
  std::vector<GgufTensorData> data;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw Error("save_gguf '" + path.string() + "': tensor " + quoted_name(name) + " is undefined");
    const std::optional<GgmlType> type = ggml_type_for(t.dtype());
    if (!type) {
      throw Error("save_gguf '" + path.string() + "': tensor " + quoted_name(name) + " is " + dtype_name(t.dtype()) +
                  ", which GGUF has no type for (f32, f16, bf16, f64, i32, i64)");
    }
    keep.push_back(t.detach().to(kCPU).contiguous());
    const Tensor& c = keep.back();
    data.push_back({name, *type, c.shape(), {static_cast<const std::byte*>(c.raw_data()), c.nbytes()}});
  }
  write_gguf(path, metadata, data);
}

}  // namespace kiln::io
