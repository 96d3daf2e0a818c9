#pragma once
// Row reductions for the CPU's row-wise kernels (softmax-like losses): the
// maximum, and sums formed in f64 over 16 lanes whose association order the
// code fixes. An f32 sum of thousands of exponentials drops the small terms and
// is biased low by ~1e-5; and an `omp simd reduction` leaves the order to the
// compiler, so a row could give different bits depending on how rows were
// spread over threads. Shared by nn_cpu.cpp (softmax, cross-entropy) and loss_cpu.cpp.
#include <cmath>
#include <cstdint>
#include <limits>

#include "kiln/backend/cpu/scalar_math.h"

namespace kiln::cpu {

/// Maximum of x[0, n) in compute_t<T>; -inf for n = 0. A NaN is skipped here
/// but poisons any sum of exponentials formed from the result.
template <class T>
compute_t<T> row_max(const T* x, std::int64_t n) {
  using C = compute_t<T>;
  C m = -std::numeric_limits<C>::infinity();
#pragma omp simd reduction(max : m)
  for (std::int64_t i = 0; i < n; ++i) {
    const C v = load(x[i]);
    m = v > m ? v : m;
  }
  return m;
}

/// Σ f(i) over [0, n) in f64, in 16 fixed lanes.
template <class F>
double lane_sum(std::int64_t n, F f) {
  constexpr int kLanes = 16;
  double acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(f(i + l));
  }
  double tail = 0;
  for (; i < n; ++i) tail += static_cast<double>(f(i));
  double s = 0;
  for (const double a : acc) s += a;
  return s + tail;
}

/// log Σ exp(x[i]) over a row, stable for any magnitudes (-inf for n = 0).
template <class T>
double row_log_sum_exp(const T* x, std::int64_t n) {
  const compute_t<T> m = row_max(x, n);
  if (n == 0) return -std::numeric_limits<double>::infinity();
  const double s = lane_sum(n, [x, m](std::int64_t i) { return exp_c(load(x[i]) - m); });
  return static_cast<double>(m) + std::log(s);
}

}  // namespace kiln::cpu
