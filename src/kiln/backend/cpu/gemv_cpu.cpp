#include "kiln/backend/cpu/gemv_cpu.h"

// GCC 12's AVX-512 headers pass an undefined vector as the masked-off source
// of many intrinsics (cvtepu16, slli, shuffles, reductions), which
// -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593). The
// warning is about the header, not this file's values.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kiln/backend/cpu/linear_epilogue.h"
#include "kiln/core/dtype.h"
#include "kiln/core/parallel.h"

namespace kiln::cpu {

namespace {

constexpr std::int64_t kMaxRows = 4;
constexpr std::int64_t kRowsPerTask = 32;  // rows of W per parallel chunk (a few KiB of output)

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// Σ of the 16 lanes through memory (measured faster here than _mm512_reduce_add_ps).
inline float hsum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0.0F;
  for (const float l : lanes) s += l;
  return s;
}

// 16 weights of row `w` from element k as floats (bf16: the high half of an f32).
template <class T>
__m512 load16(const T* w, std::int64_t k, __mmask16 mask) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_maskz_loadu_ps(mask, w + k);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, reinterpret_cast<const std::uint16_t*>(w) + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// Rows [n0, n1) of W against M input rows (f32, row stride K), one row of W
// at a time so W is read strictly in address order (one stream for the
// hardware prefetcher; interleaving 4 rows measured slower), with U
// independent accumulators per input row to cover the FMA latency.
template <class T, int M>
void gemv_block(const T* W, std::int64_t K, const float* x, std::int64_t n0, std::int64_t n1, float* y,
                std::int64_t y_stride, const float* bias, LinearActivation act) {
  constexpr int U = M == 1 ? 4 : (M == 2 ? 2 : 1);
  for (std::int64_t n = n0; n < n1; ++n) {
    const T* row = W + n * K;
    __m512 acc[M][U];
    for (int m = 0; m < M; ++m) {
      for (int u = 0; u < U; ++u) acc[m][u] = _mm512_setzero_ps();
    }
    std::int64_t k = 0;
    for (; k + 16 * U <= K; k += 16 * U) {
      for (int u = 0; u < U; ++u) {
        const __m512 wv = load16(row, k + 16 * u, __mmask16(0xFFFF));
        for (int m = 0; m < M; ++m) acc[m][u] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * K + k + 16 * u), acc[m][u]);
      }
    }
    for (; k < K; k += 16) {
      const __mmask16 mask = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1U << (K - k)) - 1U);
      const __m512 wv = load16(row, k, mask);
      for (int m = 0; m < M; ++m) acc[m][0] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, x + m * K + k), acc[m][0]);
    }
    for (int m = 0; m < M; ++m) {
      __m512 total = acc[m][0];
      for (int u = 1; u < U; ++u) total = _mm512_add_ps(total, acc[m][u]);
      y[m * y_stride + n] = apply_linear_activation(hsum(total) + (bias != nullptr ? bias[n] : 0.0F), act);
    }
  }
}
#else
template <class T, int M>
void gemv_block(const T* W, std::int64_t K, const float* x, std::int64_t n0, std::int64_t n1, float* y,
                std::int64_t y_stride, const float* bias, LinearActivation act) {
  for (std::int64_t n = n0; n < n1; ++n) {
    for (int m = 0; m < M; ++m) {
      float s = 0.0F;
#pragma omp simd reduction(+ : s)
      for (std::int64_t k = 0; k < K; ++k) s += static_cast<float>(W[n * K + k]) * x[m * K + k];
      y[m * y_stride + n] = apply_linear_activation(s + (bias != nullptr ? bias[n] : 0.0F), act);
    }
  }
}
#endif

template <class T>
void run(const T* W, std::int64_t N, std::int64_t K, const float* x, std::int64_t M, float* y, const float* bias,
         LinearActivation act) {
  parallel_for(0, N, kRowsPerTask, [&](std::int64_t n0, std::int64_t n1) {
    switch (M) {
      case 1: return gemv_block<T, 1>(W, K, x, n0, n1, y, N, bias, act);
      case 2: return gemv_block<T, 2>(W, K, x, n0, n1, y, N, bias, act);
      case 3: return gemv_block<T, 3>(W, K, x, n0, n1, y, N, bias, act);
      default: return gemv_block<T, 4>(W, K, x, n0, n1, y, N, bias, act);
    }
  });
}

bool dense_rows(const Tensor& t) { return t.dim() == 2 && t.strides()[1] == 1 && t.strides()[0] == t.shape()[1]; }

}  // namespace

bool try_linear_gemv(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act, const Tensor& out) {
  const std::int64_t M = x.dim() == 2 ? x.shape()[0] : 0;
  if (M < 1 || M > kMaxRows || x.dtype() != w.dtype() || out.dtype() != DType::f32) return false;
  if (x.dtype() != DType::f32 && x.dtype() != DType::bf16) return false;
  if (!dense_rows(x) || !dense_rows(w) || !dense_rows(out)) return false;
  if (bias.defined() && (bias.dtype() != DType::f32 || !bias.is_contiguous())) return false;
  const std::int64_t N = w.shape()[0], K = w.shape()[1];
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  float* y = out.data<float>();
  if (x.dtype() == DType::f32) {
    run(w.data<float>(), N, K, x.data<float>(), M, y, b, act);
  } else {
    std::vector<float> xf(static_cast<std::size_t>(M * K));  // the few input rows, widened once
    const bf16* xs = x.data<bf16>();
    for (std::size_t i = 0; i < xf.size(); ++i) xf[i] = static_cast<float>(xs[i]);
    run(w.data<bf16>(), N, K, xf.data(), M, y, b, act);
  }
  return true;
}

}  // namespace kiln::cpu
