#pragma once
// Walks N tensors of one shape with arbitrary element strides (0 = broadcast),
// in parallel. Adjacent dims that are contiguous for every operand are merged,
// so dense tensors become one flat loop the compiler vectorises.
#include <array>
#include <cstdint>

#include "kiln/core/parallel.h"
#include "kiln/core/tensor.h"

namespace kiln::cpu {

inline constexpr std::int64_t kElementwiseGrain = 32768;

template <std::size_t N>
struct StridedPlan {
  int ndim = 0;
  std::array<std::int64_t, 16> sizes{};
  std::array<std::array<std::int64_t, 16>, N> strides{};  // bytes
  std::array<char*, N> base{};
  std::int64_t numel = 1;
};

template <std::size_t N>
StridedPlan<N> make_plan(const std::array<const Tensor*, N>& ts) {
  StridedPlan<N> p;
  const Shape& shape = ts[0]->shape();
  if (shape.size() > 16) throw Error("elementwise: tensors of more than 16 dims are not supported: " + ts[0]->str());
  for (std::size_t k = 0; k < N; ++k) p.base[k] = static_cast<char*>(ts[k]->raw_data());
  // Drop size-1 dims, then merge dims contiguous in every operand.
  int nd = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    p.sizes[nd] = shape[d];
    for (std::size_t k = 0; k < N; ++k) {
      p.strides[k][nd] = ts[k]->strides()[d] * static_cast<std::int64_t>(dtype_size(ts[k]->dtype()));
    }
    ++nd;
  }
  int merged = 0;
  for (int d = 0; d < nd; ++d) {
    if (merged > 0) {
      bool can = true;
      for (std::size_t k = 0; k < N; ++k) {
        can = can && p.strides[k][merged - 1] == p.strides[k][d] * p.sizes[d];
      }
      if (can) {
        p.sizes[merged - 1] *= p.sizes[d];
        for (std::size_t k = 0; k < N; ++k) p.strides[k][merged - 1] = p.strides[k][d];
        continue;
      }
    }
    p.sizes[merged] = p.sizes[d];
    for (std::size_t k = 0; k < N; ++k) p.strides[k][merged] = p.strides[k][d];
    ++merged;
  }
  if (merged == 0) {  // a single element
    p.sizes[0] = 1;
    for (std::size_t k = 0; k < N; ++k) p.strides[k][0] = 0;
    merged = 1;
  }
  p.ndim = merged;
  p.numel = 1;
  for (int d = 0; d < merged; ++d) p.numel *= p.sizes[d];
  if (shape_numel(shape) == 0) p.numel = 0;
  return p;
}

/// Calls inner(ptrs, inner_strides, n) over runs of the innermost dim.
template <std::size_t N, class Inner>
void for_each_strided(const StridedPlan<N>& p, Inner&& inner) {
  const int last = p.ndim - 1;
  const std::int64_t inner_size = p.sizes[last];
  std::array<std::int64_t, N> inner_strides{};
  for (std::size_t k = 0; k < N; ++k) inner_strides[k] = p.strides[k][last];
  parallel_for(0, p.numel, kElementwiseGrain, [&](std::int64_t begin, std::int64_t end) {
    // Position of `begin` as a multi-index.
    std::array<std::int64_t, 16> idx{};
    std::int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % p.sizes[d];
      rem /= p.sizes[d];
    }
    std::int64_t i = begin;
    while (i < end) {
      std::array<char*, N> ptr;
      for (std::size_t k = 0; k < N; ++k) {
        char* q = p.base[k];
        for (int d = 0; d <= last; ++d) q += idx[d] * p.strides[k][d];
        ptr[k] = q;
      }
      const std::int64_t n = std::min(inner_size - idx[last], end - i);
      inner(ptr, inner_strides, n);
      i += n;
      idx[last] += n;
      for (int d = last; d > 0 && idx[d] >= p.sizes[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

}  // namespace kiln::cpu
