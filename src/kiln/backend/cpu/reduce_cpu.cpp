// Reductions over the middle axis of a contiguous [outer, n, inner] tensor.
//
// A reduction gives the same bits on any thread count: the work is cut into
// pieces chosen from the shape and dtype alone, each piece is reduced in a
// fixed order, and the pieces' partial results are combined in a fixed order.
//  - inner == 1 (reducing rows): a row longer than kRowPiece elements is cut
//    into pieces of kRowPiece; each piece runs down four registers of lanes.
//  - inner > 1 (reducing a leading axis): the columns are cut into tiles whose
//    accumulators fill kTileBytes (they stay in L1 while rows stream past);
//    when there are fewer than kMinPieces (outer, tile) pairs, the rows are cut
//    into blocks too, so that many threads have work and each one streams
//    through a block of whole rows. (One column stripe of every row per thread, the
//    previous scheme, ran sums over columns at 30 % of copy bandwidth on a Zen 5,
//    and on one thread when the rows were narrower than one stripe.)
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

// Accumulator type: f32 sums accumulate in f32 lanes (a row's 64 partial sums
// keep the error near pairwise summation), 16-bit floats in f32, integers in i64.
template <class T> struct acc_type { using type = compute_t<T>; };
template <> struct acc_type<std::int32_t> { using type = std::int64_t; };
template <> struct acc_type<std::uint8_t> { using type = std::int64_t; };
template <> struct acc_type<bool> { using type = std::int64_t; };
template <class T> using acc_t = typename acc_type<T>::type;

constexpr std::int64_t kRowPiece = std::int64_t{1} << 15;       // elements of a long row reduced as one piece
constexpr std::int64_t kTileBytes = 16 << 10;                   // accumulators of one column tile (L1)
constexpr std::int64_t kMinPieces = 64;                         // pieces enough to keep 64 threads busy
constexpr std::int64_t kMinPieceElems = std::int64_t{1} << 16;  // a smaller row block is not worth a partial

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

// `apply` propagates NaN: once an accumulator holds NaN it keeps it. `step`
// is what a row's lanes use; for max and min it skips a NaN in v (one vmaxps
// instead of compare, compare, or, blend) and reduce_row looks for NaN apart.
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

// Reduces x[0, n) in four registers' worth of lanes (four independent chains
// hide an add's or a max's latency), joined lane by lane, then in lane order.
// Where `step` skips NaN, the lanes also sum what they read: a NaN there (from
// a NaN, or from inf - inf) sends the row through the plain loop at the end,
// which decides exactly.
template <class T, class Op>
acc_t<T> reduce_row(const T* x, std::int64_t n) {
  using A = acc_t<T>;
  constexpr int kW = 64 / sizeof(A);  // lanes of one AVX-512 register
  A m0[kW], m1[kW], m2[kW], m3[kW], seen[kW];
  for (int l = 0; l < kW; ++l) {
    m0[l] = m1[l] = m2[l] = m3[l] = Op::init();
    seen[l] = A(0);
  }
  std::int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
#pragma omp simd
    for (int l = 0; l < kW; ++l) {
      const A v0 = static_cast<A>(load(x[i + l])), v1 = static_cast<A>(load(x[i + kW + l]));
      const A v2 = static_cast<A>(load(x[i + 2 * kW + l])), v3 = static_cast<A>(load(x[i + 3 * kW + l]));
      m0[l] = Op::step(m0[l], v0);
      m1[l] = Op::step(m1[l], v1);
      m2[l] = Op::step(m2[l], v2);
      m3[l] = Op::step(m3[l], v3);
      if constexpr (Op::kStepSkipsNan) seen[l] += (v0 + v1) + (v2 + v3);
    }
  }
  for (; i + kW <= n; i += kW) {
#pragma omp simd
    for (int l = 0; l < kW; ++l) {
      const A v = static_cast<A>(load(x[i + l]));
      m0[l] = Op::step(m0[l], v);
      if constexpr (Op::kStepSkipsNan) seen[l] += v;
    }
  }
  std::int64_t exact_from = i;  // the plain loop below starts here
  if constexpr (Op::kStepSkipsNan) {
    bool nan = false;
#pragma omp simd reduction(|| : nan)
    for (int l = 0; l < kW; ++l) nan = nan || seen[l] != seen[l];
    if (nan) exact_from = 0;
  }
  A r = Op::init();
  if (exact_from > 0) {
#pragma omp simd
    for (int l = 0; l < kW; ++l) m0[l] = Op::step(Op::step(m0[l], m1[l]), Op::step(m2[l], m3[l]));
    r = m0[0];
    for (int l = 1; l < kW; ++l) r = Op::step(r, m0[l]);
  }
  for (std::int64_t k = exact_from; k < n; ++k) r = Op::apply(r, static_cast<A>(load(x[k])));
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

// acc[0, len) = reduce over the rows x[r0, r1) (rows `inner` apart). The rows
// are taken as four quarters, one row of each per pass: four streams of reads
// keep more memory requests in flight than one stream of short rows does (rows
// of 64 floats ran ~30 % slower one after another), and the accumulators are
// loaded and stored once per four rows. The order is fixed by the shape alone.
template <class T, class Op>
void accumulate_rows(acc_t<T>* acc, const T* x, std::int64_t r0, std::int64_t r1, std::int64_t inner,
                     std::int64_t len) {
  using A = acc_t<T>;
  std::fill(acc, acc + len, Op::init());
  const std::int64_t quarter = (r1 - r0) / 4;
  for (std::int64_t r = r0; r < r0 + quarter; ++r) {
    const T* a = x + r * inner;
    const T* b = a + quarter * inner;
    const T* c = b + quarter * inner;
    const T* d = c + quarter * inner;
#pragma omp simd
    for (std::int64_t j = 0; j < len; ++j) {
      A v = Op::apply(acc[j], static_cast<A>(load(a[j])));
      v = Op::apply(v, static_cast<A>(load(b[j])));
      v = Op::apply(v, static_cast<A>(load(c[j])));
      acc[j] = Op::apply(v, static_cast<A>(load(d[j])));
    }
  }
  for (std::int64_t r = r0 + 4 * quarter; r < r1; ++r) {
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
