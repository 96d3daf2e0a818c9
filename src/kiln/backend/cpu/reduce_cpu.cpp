// Reductions over the middle axis of a contiguous [outer, n, inner] tensor.
//
// A reduction gives the same bits on any thread count: the work is cut into
// pieces chosen from the shape and dtype alone, each piece is reduced in a
// fixed order, and the pieces' partial results are combined in a fixed order.
//  - inner == 1 (reducing rows): a row longer than kRowPiece elements is cut
//    into pieces of kRowPiece; each piece runs down 256 bytes of lanes.
//  - inner > 1 (reducing a leading axis): the columns are cut into tiles whose
//    accumulators fill kTileBytes (they stay in L1 while rows stream past);
//    when there are fewer than kMinPieces (outer, tile) pairs, the rows are cut
//    into blocks too, so many threads have work and each one reads whole rows
//    front to back (reading a narrow column stripe of every row instead ran at
//    30 % of copy bandwidth).
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

// Accumulator type: f32 sums accumulate in f32 lanes (64 partial sums keep the
// error near pairwise summation), 16-bit floats in f32, integers in i64.
template <class T> struct acc_type { using type = compute_t<T>; };
template <> struct acc_type<std::int32_t> { using type = std::int64_t; };
template <> struct acc_type<std::uint8_t> { using type = std::int64_t; };
template <> struct acc_type<bool> { using type = std::int64_t; };
template <class T> using acc_t = typename acc_type<T>::type;

constexpr std::int64_t kRowPiece = std::int64_t{1} << 15;   // elements
constexpr std::int64_t kTileBytes = 16 << 10;               // accumulators of one column tile
constexpr std::int64_t kMinPieces = 64;                     // enough pieces for 64 threads
constexpr std::int64_t kMinPieceElems = std::int64_t{1} << 16;  // a smaller piece is not worth a partial

// Identities of max and min: ±inf where the type has them, so that a row of
// -inf has maximum -inf (not the lowest finite value).
template <class A>
constexpr A lowest_value() {
  if constexpr (std::numeric_limits<A>::has_infinity) return -std::numeric_limits<A>::infinity();
  return std::numeric_limits<A>::lowest();
}
template <class A>
constexpr A highest_value() {
  if constexpr (std::numeric_limits<A>::has_infinity) return std::numeric_limits<A>::infinity();
  return std::numeric_limits<A>::max();
}

// Each op combines in two ways. `apply` propagates NaN; it serves column
// accumulators and the joining of partial results. `step` serves the lanes of
// a row and may skip a NaN (kStepSkipsNan), which lets GCC emit one vmaxps per
// vector instead of compare-compare-or-blend; the row loop then notes NaNs in
// lanes of their own.
template <class A>
struct SumOp {
  static constexpr bool kStepSkipsNan = false;
  static A init() { return A(0); }
  static A apply(A a, A b) { return a + b; }
  static A step(A a, A v) { return a + v; }
};
template <class A>
struct MaxOp {
  static constexpr bool kStepSkipsNan = std::is_floating_point_v<A>;
  static A init() { return lowest_value<A>(); }
  static A apply(A a, A b) { return (a != a || a > b) ? a : b; }
  static A step(A a, A v) { return v > a ? v : a; }
};
template <class A>
struct MinOp {
  static constexpr bool kStepSkipsNan = std::is_floating_point_v<A>;
  static A init() { return highest_value<A>(); }
  static A apply(A a, A b) { return (a != a || a < b) ? a : b; }
  static A step(A a, A v) { return v < a ? v : a; }
};

// Reduces x[0, n) in 256 bytes of independent lanes (four AVX-512 registers:
// enough chains to hide the latency of an add or a max), joined in lane order.
template <class T, class Op>
acc_t<T> reduce_row(const T* x, std::int64_t n) {
  using A = acc_t<T>;
  constexpr int kLanes = 256 / sizeof(A);
  A lanes[kLanes];
  A nan_lanes[kLanes];  // holds a NaN the lane's step skipped
  for (int l = 0; l < kLanes; ++l) {
    lanes[l] = Op::init();
    nan_lanes[l] = A(0);
  }
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const A v = static_cast<A>(load(x[i + l]));
      lanes[l] = Op::step(lanes[l], v);
      if constexpr (Op::kStepSkipsNan) nan_lanes[l] = v != v ? v : nan_lanes[l];
    }
  }
  if constexpr (Op::kStepSkipsNan) {
    for (int l = 0; l < kLanes; ++l) {
      if (nan_lanes[l] != nan_lanes[l]) return nan_lanes[l];
    }
  }
  A r = Op::init();
  for (int l = 0; l < kLanes; ++l) r = Op::apply(r, lanes[l]);
  for (; i < n; ++i) r = Op::apply(r, static_cast<A>(load(x[i])));
  return r;
}

// inner == 1: y[o] = reduce(x[o, :]).
template <class T, class Op>
void reduce_rows(const T* x, T* y, std::int64_t outer, std::int64_t n) {
  using A = acc_t<T>;
  if (n <= kRowPiece) {
    parallel_for(0, outer, std::max<std::int64_t>(1, kMinPieceElems / std::max<std::int64_t>(n, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   for (std::int64_t o = b; o < e; ++o) y[o] = convert<T>(reduce_row<T, Op>(x + o * n, n));
                 });
    return;
  }
  const std::int64_t pieces = (n + kRowPiece - 1) / kRowPiece;
  std::vector<A> partial(static_cast<std::size_t>(outer * pieces));
  parallel_for(0, outer * pieces, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t u = b; u < e; ++u) {
      const std::int64_t o = u / pieces, lo = (u % pieces) * kRowPiece;
      partial[static_cast<std::size_t>(u)] = reduce_row<T, Op>(x + o * n + lo, std::min(kRowPiece, n - lo));
    }
  });
  for (std::int64_t o = 0; o < outer; ++o) {
    A r = partial[static_cast<std::size_t>(o * pieces)];
    for (std::int64_t p = 1; p < pieces; ++p) r = Op::apply(r, partial[static_cast<std::size_t>(o * pieces + p)]);
    y[o] = convert<T>(r);
  }
}

// acc[0, len) = apply(acc, row[0, len)) for every row of x[r0, r1) (rows `inner` apart).
template <class T, class Op>
void accumulate_rows(acc_t<T>* acc, const T* x, std::int64_t r0, std::int64_t r1, std::int64_t inner,
                     std::int64_t len) {
  using A = acc_t<T>;
  std::fill(acc, acc + len, Op::init());
  for (std::int64_t r = r0; r < r1; ++r) {
    const T* row = x + r * inner;
#pragma omp simd
    for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::apply(acc[j], static_cast<A>(load(row[j])));
  }
}

// inner > 1: y[o, j] = reduce(x[o, :, j]).
template <class T, class Op>
void reduce_leading(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner) {
  using A = acc_t<T>;
  const std::int64_t width = std::min<std::int64_t>(inner, kTileBytes / static_cast<std::int64_t>(sizeof(A)));
  const std::int64_t tiles = (inner + width - 1) / width;
  const std::int64_t min_rows = std::max<std::int64_t>(1, kMinPieceElems / width);
  const std::int64_t blocks = std::clamp<std::int64_t>((kMinPieces + outer * tiles - 1) / (outer * tiles), 1,
                                                       std::max<std::int64_t>(1, n / min_rows));
  // Piece u = ((o * blocks) + block) * tiles + tile: a thread's run of pieces walks the rows in memory order.
  const std::int64_t pieces = outer * blocks * tiles;
  const std::int64_t rows_per_piece = std::max<std::int64_t>(1, n / blocks);
  const std::int64_t grain =
      std::max<std::int64_t>(1, kMinPieceElems / std::max<std::int64_t>(1, rows_per_piece * width));
  if (blocks == 1) {
    parallel_for(0, pieces, grain, [&](std::int64_t b, std::int64_t e) {
      std::vector<A> acc(static_cast<std::size_t>(width));
      for (std::int64_t u = b; u < e; ++u) {
        const std::int64_t o = u / tiles, j0 = (u % tiles) * width, len = std::min(width, inner - j0);
        accumulate_rows<T, Op>(acc.data(), x + o * n * inner + j0, 0, n, inner, len);
        for (std::int64_t j = 0; j < len; ++j) y[o * inner + j0 + j] = convert<T>(acc[static_cast<std::size_t>(j)]);
      }
    });
    return;
  }
  // Partial results of every row block, [outer, blocks, inner], joined below in block order.
  // A tensor, so the allocator's cache serves it again on the next call without page faults.
  const Tensor partial_t = Tensor::empty({outer * blocks * inner}, dtype_v<A>);
  A* partial = partial_t.data<A>();
  parallel_for(0, pieces, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t u = b; u < e; ++u) {
      const std::int64_t ob = u / tiles, o = ob / blocks, block = ob % blocks;
      const std::int64_t j0 = (u % tiles) * width, len = std::min(width, inner - j0);
      accumulate_rows<T, Op>(partial + ob * inner + j0, x + o * n * inner + j0, n * block / blocks,
                             n * (block + 1) / blocks, inner, len);
    }
  });
  parallel_for(0, outer * tiles, std::max<std::int64_t>(1, kMinPieceElems / (blocks * width)),
               [&](std::int64_t b, std::int64_t e) {
                 std::vector<A> acc(static_cast<std::size_t>(width));
                 for (std::int64_t u = b; u < e; ++u) {
                   const std::int64_t o = u / tiles, j0 = (u % tiles) * width, len = std::min(width, inner - j0);
                   const A* first = partial + o * blocks * inner + j0;
                   std::copy(first, first + len, acc.begin());
                   for (std::int64_t block = 1; block < blocks; ++block) {
                     const A* p = first + block * inner;
#pragma omp simd
                     for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::apply(acc[j], p[j]);
                   }
                   for (std::int64_t j = 0; j < len; ++j) {
                     y[o * inner + j0 + j] = convert<T>(acc[static_cast<std::size_t>(j)]);
                   }
                 }
               });
}

template <class T, class Op>
void reduce_impl(const Tensor& in, const Tensor& out) {
  const std::int64_t outer = in.shape()[0], n = in.shape()[1], inner = in.shape()[2];
  if (inner == 1) return reduce_rows<T, Op>(in.data<T>(), out.data<T>(), outer, n);
  reduce_leading<T, Op>(in.data<T>(), out.data<T>(), outer, n, inner);
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
