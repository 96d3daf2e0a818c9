#pragma once
// The machine's measured limits, taken in the same run as the kernels they
// judge: f32 FMA peak (16 independent zmm chains per thread) and the bandwidth
// of a plain copy of a 64 MiB array.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kiln::bench {

/// GFLOP/s of fused multiply-adds on `threads` threads.
inline double measure_fma_peak_gflops(int threads) {
  constexpr std::int64_t kIters = 20'000'000;
  std::vector<double> samples;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      __m512 acc[16];
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3F);
      const __m512 a = _mm512_set1_ps(0.999999F), b = _mm512_set1_ps(1e-7F);
      for (std::int64_t it = 0; it < kIters / 16; ++it) {
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
      }
      __m512 s = acc[0];
      for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, s);
      for (const float v : lanes) sink += v;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 12345.0F) samples.push_back(0);  // keeps the loop alive
    samples.push_back(static_cast<double>(kIters) * 16 * 2 * threads / secs / 1e9);
  }
  std::sort(samples.begin(), samples.end());
  return samples.back();
}

/// GB/s (bytes read + bytes written) of copying a 64 MiB f32 array on `threads` threads.
inline double measure_copy_gbps(int threads) {
  constexpr std::size_t kBytes = std::size_t{64} << 20;
  std::vector<float> src(kBytes / 4, 1.0F), dst(kBytes / 4, 0.0F);
  std::vector<double> samples;
  for (int rep = 0; rep < 15; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const std::size_t n = src.size(), t = static_cast<std::size_t>(omp_get_thread_num());
      const std::size_t nt = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t b = n * t / nt, e = n * (t + 1) / nt;
      std::memcpy(dst.data() + b, src.data() + b, (e - b) * sizeof(float));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    samples.push_back(2.0 * kBytes / secs / 1e9);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace kiln::bench
