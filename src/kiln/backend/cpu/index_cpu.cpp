// CPU kernels for integer indexing: index_select / index_add (rows of a table)
// and gather / scatter_add (one index per element along an axis). Index values
// were range-checked by the op layer, so the loops here never throw.
//
// The accumulating kernels (index_add, scatter_add) split work so that each
// output element is owned by one thread and receives its contributions in
// index order: results are identical for every thread count.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

constexpr std::int64_t kGrainElements = 32768;  // elements of work below which a loop stays on one thread
constexpr std::int64_t kColumnBlock = 64;      // columns per task when splitting along the inner axis

std::int64_t grain_for(std::int64_t row_elements) {
  return std::max<std::int64_t>(1, kGrainElements / std::max<std::int64_t>(row_elements, 1));
}

// Elements per row of a contiguous [rows, ...] tensor.
std::int64_t row_elements(const Tensor& t) {
  std::int64_t n = 1;
  for (std::size_t d = 1; d < t.shape().size(); ++d) n *= t.shape()[d];
  return n;
}

template <class T>
inline void accumulate(T& dst, T v) {
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
    dst = T(static_cast<float>(dst) + static_cast<float>(v));
  } else {
    dst = static_cast<T>(dst + v);
  }
}

// table contiguous [rows, inner], index i64 [n] → out contiguous [n, inner].
template <class T>
void index_select_kernel(const Tensor& table, const Tensor& index, const Tensor& out) {
  const std::int64_t inner = row_elements(table);
  const std::int64_t n = index.numel();
  if (n == 0 || inner == 0) return;
  const T* src = table.data<T>();
  const std::int64_t* idx = index.data<std::int64_t>();
  T* dst = out.data<T>();
  parallel_for(0, n, grain_for(inner), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) std::copy_n(src + idx[i] * inner, inner, dst + i * inner);
  });
}

// table contiguous [rows, inner] += rows of src contiguous [n, inner] at index i64 [n].
template <class T>
void index_add_kernel(const Tensor& table, const Tensor& index, const Tensor& src) {
  const std::int64_t rows = table.shape().empty() ? 1 : table.shape()[0];
  const std::int64_t inner = row_elements(table);
  const std::int64_t n = index.numel();
  if (n == 0 || inner == 0) return;
  T* dst = table.data<T>();
  const std::int64_t* idx = index.data<std::int64_t>();
  const T* s = src.data<T>();
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  if (blocks >= num_threads() || n * inner <= kGrainElements) {
    // Wide rows: each task owns a band of columns across every row.
    parallel_for(0, blocks, grain_for(n * kColumnBlock), [&](std::int64_t b, std::int64_t e) {
      const std::int64_t c0 = b * kColumnBlock, c1 = std::min(inner, e * kColumnBlock);
      for (std::int64_t i = 0; i < n; ++i) {
        T* drow = dst + idx[i] * inner;
        const T* srow = s + i * inner;
        for (std::int64_t c = c0; c < c1; ++c) accumulate(drow[c], srow[c]);
      }
    });
    return;
  }
  // Narrow rows: each task owns a range of destination rows and scans the whole index.
  parallel_for(0, rows, grain_for(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = idx[i];
      if (r < b || r >= e) continue;
      T* drow = dst + r * inner;
      const T* srow = s + i * inner;
      for (std::int64_t c = 0; c < inner; ++c) accumulate(drow[c], srow[c]);
    }
  });
}

// in contiguous [outer, n, inner], index i64 [outer, k, inner] → out [outer, k, inner].
template <class T>
void gather_kernel(const Tensor& in, const Tensor& index, const Tensor& out) {
  const std::int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  const std::int64_t k = index.shape()[1];
  const T* x = in.data<T>();
  const std::int64_t* idx = index.data<std::int64_t>();
  T* y = out.data<T>();
  parallel_for(0, outer * k, grain_for(inner), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      const T* base = x + (t / k) * n * inner;
      const std::int64_t* irow = idx + t * inner;
      T* yrow = y + t * inner;
      for (std::int64_t i = 0; i < inner; ++i) yrow[i] = base[irow[i] * inner + i];
    }
  });
}

// out contiguous [outer, n, inner]: out[o, index[o, j, i], i] += src[o, j, i];
// index and src contiguous [outer, k, inner].
template <class T>
void scatter_add_kernel(const Tensor& out, const Tensor& index, const Tensor& src) {
  const std::int64_t outer = out.shape()[0], n = out.shape()[1], inner = out.shape()[2];
  const std::int64_t k = index.shape()[1];
  T* y = out.data<T>();
  const std::int64_t* idx = index.data<std::int64_t>();
  const T* s = src.data<T>();
  const std::int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  // A task is (outer slab, band of columns); within it rows are visited in index order.
  parallel_for(0, outer * blocks, grain_for(k * std::min(inner, kColumnBlock)), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t o = t / blocks;
      const std::int64_t c0 = (t % blocks) * kColumnBlock, c1 = std::min(inner, c0 + kColumnBlock);
      T* slab = y + o * n * inner;
      for (std::int64_t j = 0; j < k; ++j) {
        const std::int64_t* irow = idx + (o * k + j) * inner;
        const T* srow = s + (o * k + j) * inner;
        for (std::int64_t c = c0; c < c1; ++c) accumulate(slab[irow[c] * inner + c], srow[c]);
      }
    }
  });
}

}  // namespace

void register_index_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  visit_all_dtypes([&](auto t) {
    using T = decltype(t);
    index_select_kernels().set(cpu, dtype_v<T>, &index_select_kernel<T>);
    gather_kernels().set(cpu, dtype_v<T>, &gather_kernel<T>);
    if constexpr (!std::is_same_v<T, bool>) {
      index_add_kernels().set(cpu, dtype_v<T>, &index_add_kernel<T>);
      scatter_add_kernels().set(cpu, dtype_v<T>, &scatter_add_kernel<T>);
    }
  });
}

}  // namespace kiln::cpu
