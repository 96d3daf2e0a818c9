#pragma once
// Element types a Tensor can hold, and the 16-bit float formats kiln converts by hand.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

/// Element type of a tensor. Quantized block types (q8_0, q4_0) will join this
/// list; code that switches over DType must therefore handle `default`.
enum class DType : std::uint8_t { f32, f64, bf16, f16, i32, i64, u8, boolean };
inline constexpr int kNumDTypes = 8;

/// Bytes per element.
std::size_t dtype_size(DType t);
/// Lower-case name as printed in errors and by `kiln inspect` ("f32", "bf16", ...).
const char* dtype_name(DType t);
bool is_floating(DType t);
/// Parses a dtype name; throws naming the text on failure.
DType dtype_from_name(const std::string& name);

/// bfloat16: the upper half of an IEEE binary32, rounded to nearest even.
struct bf16 {
  std::uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) {
    const auto u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffU) > 0x7f800000U) {
      bits = static_cast<std::uint16_t>((u >> 16) | 0x40U);  // quiet NaN
    } else {
      const std::uint32_t rounding = 0x7fffU + ((u >> 16) & 1U);
      bits = static_cast<std::uint16_t>((u + rounding) >> 16);
    }
  }
  explicit operator float() const { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }
};

/// IEEE binary16, converted in software so no target feature is required.
struct f16 {
  std::uint16_t bits = 0;
  f16() = default;
  explicit f16(float f);
  explicit operator float() const;
};

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<f16> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

/// Calls `f(T{})` with the C++ type behind `t`. Throws for types `f` cannot take.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});
    case DType::f16: return f(f16{});
    case DType::i32: return f(std::int32_t{});
    case DType::i64: return f(std::int64_t{});
    case DType::u8: return f(std::uint8_t{});
    case DType::boolean: return f(bool{});
  }
  return f(float{});
}

}  // namespace kiln
