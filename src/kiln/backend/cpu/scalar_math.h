#pragma once
// Scalar math written so that `#pragma omp simd` loops vectorise it (no libm
// calls for f32 exp/tanh/sigmoid), plus load/store helpers for 16-bit floats.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/core/dtype.h"

namespace kiln::cpu {

/// Arithmetic type used to compute on T: 16-bit floats compute in f32.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<bf16> { using type = float; };
template <> struct compute_type<f16> { using type = float; };
template <class T> using compute_t = typename compute_type<T>::type;

template <class T>
inline compute_t<T> load(T v) {
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
    return static_cast<float>(v);
  } else {
    return v;
  }
}

/// Converts any element type to any other, through double for mixed kinds.
template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<S, bf16> || std::is_same_v<S, f16>) {
    return convert<D>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S{};
  } else if constexpr (std::is_same_v<D, bf16> || std::is_same_v<D, f16>) {
    return D(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

/// e^x in f32 with Cephes' polynomial (≤ 2 ulp over the normal range).
inline float exp_f32(float x) {
  // Clamp with selects: GCC 12 does not vectorise loops that call std::fmin/std::fmax.
  const float lo = x < -87.5F ? -87.5F : x;
  const float xc = lo > 88.5F ? 88.5F : lo;
  const float t = xc * 1.44269504088896341F;
  const float n = (t + 12582912.0F) - 12582912.0F;  // round to nearest
  float r = xc - n * 0.693359375F;
  r = r + n * 2.12194440e-4F;
  const float r2 = r * r;
  float p = 1.9875691500E-4F;
  p = p * r + 1.3981999507E-3F;
  p = p * r + 8.3334519073E-3F;
  p = p * r + 4.1665795894E-2F;
  p = p * r + 1.6666665459E-1F;
  p = p * r + 5.0000001201E-1F;
  const float y = p * r2 + r + 1.0F;
  const float scale = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  float out = y * scale;
  out = x > 88.5F ? std::numeric_limits<float>::infinity() : out;
  out = x < -87.5F ? 0.0F : out;
  return x != x ? x : out;
}

inline float sigmoid_f32(float x) { return 1.0F / (1.0F + exp_f32(-x)); }

/// tanh in f32 as a [13/6] rational function of x (clamped where tanh rounds
/// to ±1): one division and no exp, so it stays memory-bound when vectorised.
inline float tanh_f32(float x) {
  constexpr float kClamp = 7.90531110763549805F;
  const float xc = x > kClamp ? kClamp : (x < -kClamp ? -kClamp : x);
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16F;
  p = p * x2 + 2.00018790482477e-13F;
  p = p * x2 - 8.60467152213735e-11F;
  p = p * x2 + 5.12229709037114e-08F;
  p = p * x2 + 1.48572235717979e-05F;
  p = p * x2 + 6.37261928875436e-04F;
  p = p * x2 + 4.89352455891786e-03F;
  float q = 1.19825839466702e-06F;
  q = q * x2 + 1.18534705686654e-04F;
  q = q * x2 + 2.26843463243900e-03F;
  q = q * x2 + 4.89352518554385e-03F;
  const float y = xc * p / q;
  return (x < 0.0004F && x > -0.0004F) ? x : y;  // also passes NaN through
}

template <class C> inline C exp_c(C x) { if constexpr (std::is_same_v<C, float>) return exp_f32(x); else return std::exp(x); }
template <class C> inline C tanh_c(C x) { if constexpr (std::is_same_v<C, float>) return tanh_f32(x); else return std::tanh(x); }
template <class C> inline C sigmoid_c(C x) { return C(1) / (C(1) + exp_c(-x)); }

}  // namespace kiln::cpu
