#include "kiln/core/machine_peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace kiln {

namespace {

constexpr std::int64_t kIters = 64'000'000;  // FMAs per thread and repetition: ~8 ms, long enough to time
constexpr int kChains = 16;                 // independent accumulators: covers FMA latency × ports

template <class Body>
double best_gflops(int threads, double flops_per_iter, Body body) {
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0.0F;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += body();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 1.2345e30F) best = -1.0;  // keeps the loop's result alive
    best = std::max(best, flops_per_iter * static_cast<double>(kIters) * threads / secs / 1e9);
  }
  return best;
}

#if defined(__AVX512F__)
// (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized inside its own header.)
float sum_lanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float r = 0.0F;
  for (const float x : lanes) r += x;
  return r;
}

float fma_chains() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3F);
  const __m512 a = _mm512_set1_ps(0.999999F), b = _mm512_set1_ps(1e-7F);
  for (std::int64_t it = 0; it < kIters / kChains; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return sum_lanes(s);
}
constexpr double kFmaFlops = 32.0;  // 16 lanes × 2
#else
float fma_chains() {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3F);
  const __m256 a = _mm256_set1_ps(0.999999F), b = _mm256_set1_ps(1e-7F);
  for (std::int64_t it = 0; it < kIters / kChains; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float r = 0.0F;
  for (const float v : lanes) r += v;
  return r;
}
constexpr double kFmaFlops = 16.0;  // 8 lanes × 2
#endif

#if defined(__AVX512BF16__)
float bf16_chains() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3F);
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3F), _mm512_set1_ps(1e-3F));
  for (std::int64_t it = 0; it < kIters / kChains; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return sum_lanes(s);
}
#endif

}  // namespace

MachinePeak measure_machine_peak(int threads) {
  MachinePeak p;
  p.f32_gflops = best_gflops(threads, kFmaFlops, fma_chains);
#if defined(__AVX512BF16__)
  // Each vdpbf16ps lane does two multiply-adds: 16 lanes × 2 pairs × 2 FLOPs.
  p.bf16_gflops = best_gflops(threads, 64.0, bf16_chains);
#endif
  return p;
}

}  // namespace kiln
