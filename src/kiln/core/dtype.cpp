#include "kiln/core/dtype.h"

#include <cstring>

#include "kiln/core/error.h"

namespace kiln {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::bf16: case DType::f16: return 2;
    case DType::u8: case DType::boolean: return 1;
  }
  throw Error("dtype_size: unknown dtype " + std::to_string(static_cast<int>(t)));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::boolean: return "bool";
  }
  return "?";
}

bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16;
}

DType dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    if (name == dtype_name(t)) return t;
  }
  throw Error("unknown dtype '" + name + "' (expected one of f32, f64, bf16, f16, i32, i64, u8, bool)");
}

f16::f16(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000U;
  const std::uint32_t absx = x & 0x7fffffffU;
  if (absx >= 0x7f800000U) {  // inf or NaN
    bits = static_cast<std::uint16_t>(sign | 0x7c00U | (absx > 0x7f800000U ? 0x200U : 0U));
    return;
  }
  if (absx >= 0x477ff000U) {  // rounds to >= 65520: overflow to inf
    bits = static_cast<std::uint16_t>(sign | 0x7c00U);
    return;
  }
  if (absx < 0x38800000U) {  // subnormal half (or zero): round the shifted mantissa
    const int shift = 126 - static_cast<int>(absx >> 23);  // >= 14 here
    if (shift > 24) { bits = static_cast<std::uint16_t>(sign); return; }
    const std::uint32_t mant = (absx & 0x7fffffU) | 0x800000U;
    const std::uint32_t q = mant >> shift;
    const std::uint32_t rem = mant & ((1U << shift) - 1U);
    const std::uint32_t half = 1U << (shift - 1);
    const std::uint32_t r = q + ((rem > half || (rem == half && (q & 1U))) ? 1U : 0U);
    bits = static_cast<std::uint16_t>(sign | r);
    return;
  }
  const std::uint32_t rounded = absx + 0xfffU + ((absx >> 13) & 1U);
  bits = static_cast<std::uint16_t>(sign | ((rounded - 0x38000000U) >> 13));
}

f16::operator float() const {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000U) << 16;
  const std::uint32_t exp = (bits >> 10) & 0x1fU;
  std::uint32_t mant = bits & 0x3ffU;
  std::uint32_t out = 0;
  if (exp == 0x1fU) {
    out = sign | 0x7f800000U | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      out = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400U) == 0);
      out = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3ffU) << 13);
    }
  } else {
    out = sign | ((exp + 112U) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(out);
}

}  // namespace kiln
