// Reductions over the middle axis of a contiguous [outer, n, inner] tensor.
#include <algorithm>
#include <limits>
#include <vector>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

// Accumulator type: f32 sums accumulate in f32 lanes (16 partial sums keep the
// error near pairwise summation), 16-bit floats in f32, integers in i64.
template <class T> struct acc_type { using type = compute_t<T>; };
template <> struct acc_type<std::int32_t> { using type = std::int64_t; };
template <> struct acc_type<std::uint8_t> { using type = std::int64_t; };
template <> struct acc_type<bool> { using type = std::int64_t; };
template <class T> using acc_t = typename acc_type<T>::type;

template <class A>
struct SumOp {
  static A init() { return A(0); }
  static A apply(A a, A b) { return a + b; }
};
template <class A>
struct MaxOp {
  static A init() { return std::numeric_limits<A>::lowest(); }
  static A apply(A a, A b) { return (a != a || a > b) ? a : b; }  // NaN propagates
};
template <class A>
struct MinOp {
  static A init() { return std::numeric_limits<A>::max(); }
  static A apply(A a, A b) { return (a != a || a < b) ? a : b; }
};

// Reduces x[0..n) with 16 independent lanes so the loop vectorises.
template <class T, class Op>
acc_t<T> reduce_row(const T* x, std::int64_t n) {
  using A = acc_t<T>;
  constexpr int kLanes = 16;
  A lanes[kLanes];
  for (A& l : lanes) l = Op::init();
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) lanes[l] = Op::apply(lanes[l], static_cast<A>(load(x[i + l])));
  }
  A r = Op::init();
  for (int l = 0; l < kLanes; ++l) r = Op::apply(r, lanes[l]);
  for (; i < n; ++i) r = Op::apply(r, static_cast<A>(load(x[i])));
  return r;
}

template <class T, class Op>
void reduce_impl(const Tensor& in, const Tensor& out) {
  using A = acc_t<T>;
  const std::int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  const T* x = in.data<T>();
  T* y = out.data<T>();
  if (inner == 1) {
    if (outer >= num_threads() || n < 65536) {
      parallel_for(0, outer, std::max<std::int64_t>(1, 65536 / std::max<std::int64_t>(n, 1)),
                   [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t o = b; o < e; ++o) y[o] = convert<T>(reduce_row<T, Op>(x + o * n, n));
                   });
      return;
    }
    // Few long rows (a full reduction): split each row across threads, then combine.
    const std::int64_t parts = num_threads();
    for (std::int64_t o = 0; o < outer; ++o) {
      std::vector<A> partial(static_cast<std::size_t>(parts), Op::init());
      const T* row = x + o * n;
      parallel_for(0, parts, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t p = b; p < e; ++p) {
          const std::int64_t lo = n * p / parts, hi = n * (p + 1) / parts;
          partial[static_cast<std::size_t>(p)] = reduce_row<T, Op>(row + lo, hi - lo);
        }
      });
      A r = Op::init();
      for (const A v : partial) r = Op::apply(r, v);
      y[o] = convert<T>(r);
    }
    return;
  }
  // Reduce along a strided axis: accumulate whole rows of `inner` at a time.
  const std::int64_t chunk = 1024;
  const std::int64_t tiles = (inner + chunk - 1) / chunk;
  parallel_for(0, outer * tiles, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<A> acc(static_cast<std::size_t>(chunk));
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t o = t / tiles, j0 = (t % tiles) * chunk, len = std::min(chunk, inner - j0);
      std::fill(acc.begin(), acc.begin() + len, Op::init());
      for (std::int64_t r = 0; r < n; ++r) {
        const T* row = x + (o * n + r) * inner + j0;
#pragma omp simd
        for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::apply(acc[j], static_cast<A>(load(row[j])));
      }
      for (std::int64_t j = 0; j < len; ++j) y[o * inner + j0 + j] = convert<T>(acc[j]);
    }
  });
}

template <class T>
void reduce_kernel(ReduceOp op, const Tensor& in, const Tensor& out) {
  using A = acc_t<T>;
  switch (op) {
    case ReduceOp::sum: return reduce_impl<T, SumOp<A>>(in, out);
    case ReduceOp::max: return reduce_impl<T, MaxOp<A>>(in, out);
    case ReduceOp::min: return reduce_impl<T, MinOp<A>>(in, out);
  }
}

template <class T>
void argmax_kernel(const Tensor& in, const Tensor& out) {
  const std::int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  const T* x = in.data<T>();
  std::int64_t* y = out.data<std::int64_t>();
  parallel_for(0, outer * inner, 256, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      const std::int64_t o = t / inner, j = t % inner;
      std::int64_t best = 0;
      auto best_v = load(x[o * n * inner + j]);
      for (std::int64_t r = 1; r < n; ++r) {
        const auto v = load(x[(o * n + r) * inner + j]);
        if (v > best_v || (v != v && best_v == best_v)) {
          best_v = v;
          best = r;
        }
      }
      y[t] = best;
    }
  });
}

}  // namespace

void register_reduce_kernels() {
  visit_all_dtypes([](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, bool>) {
      reduce_kernels().set(DeviceKind::cpu, dtype_v<T>, &reduce_kernel<T>);
      argmax_kernels().set(DeviceKind::cpu, dtype_v<T>, &argmax_kernel<T>);
    }
  });
}

}  // namespace kiln::cpu
