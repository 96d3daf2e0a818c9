// CPU kernels of the fused attention (ops/attention_kernels.h): flash
// attention's tiling, laid out so that every inner loop runs over the queries
// of a block.
//
// Layout. Queries go in blocks of Q = 4 vectors (with AVX-512: 64 for f32, 32 for f64) and
// keys in tiles of Q. A block's queries are packed once, transposed and scaled
// (qt[e][i] = scale·q_i[e]), and the scores of a tile are formed transposed,
// st[j][i] = k_j·qt[·][i]: the k and v rows are read where they lie (one
// broadcast per element) and each row of st is Q contiguous queries. The online
// softmax's row maximum, exponentials and sums are then vertical vector
// operations, and so is the rescaling of the output block, kept transposed as
// ot[e][i]. Every product is one register-blocked panel (panel_fma below: 6 rows
// × 4 vectors of accumulators with AVX-512), which GCC 12 keeps
// in registers; on the AVX-512 development machine the panels run at about 90%
// of oneDNN's GEMM rate, and the softmax around them (one exp per score) costs
// about a fifth of the forward. Block and tile are both Q so the causal diagonal
// wastes at most half a tile per block.
//
// Forward: one task per (b, h, query block), visiting the key tiles the block
// can see (causal: none past its last query's horizon). It keeps only the output
// and the log-sum-exp of each query row.
// Backward: one task per (b, h), so dK and dV have one writer and need no atomics.
// The task packs every query block's qt, scaled q rows, dO (transposed and as
// rows), lse and D = rowsum(dO∘O) once, then for each key tile walks the query
// blocks that can see it: P = exp(st - lse), dV += P·dO, dPᵀ = v·dOᵀ,
// dS = P∘(dP - D), dK += dS·(scale·q), dQᵀ += kᵀ·dS (scaled when written out).
// Each of the five products is a panel of the same kernel.
//
// 16-bit inputs compute in f32: their k and v tiles are converted into scratch
// before use, and the results are rounded once when written. Scratch is one
// buffer per call, carved per worker: nothing is allocated per tile.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/attention_kernels.h"

namespace kiln::cpu {

namespace {

// A panel holds kPanelRows × 4 vectors of accumulators plus 4 of operands: 28
// of AVX-512's 32 registers, 16 of AVX2's 16.
#if defined(__AVX512F__)
constexpr std::int64_t kVectorBytes = 64;
constexpr int kPanelRows = 6;
#else
constexpr std::int64_t kVectorBytes = 32;
constexpr int kPanelRows = 3;
#endif
template <class C>
constexpr std::int64_t kLanes = kVectorBytes / static_cast<std::int64_t>(sizeof(C));
template <class C>
constexpr std::int64_t kBlock = 4 * kLanes<C>;  // queries per block and keys per tile

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// What a panel starts from: zeros, c itself, or c with column i scaled by col_scale[i].
enum class Start : std::uint8_t { zero, accumulate, rescale };

// c[r][0, W) = start + Σ_k a[r·a_row + k·a_step] · b[k·ldb + (0, W)]  for r < R,
// k < n, with W = NV vectors. Both strides of `a` are free, so the one kernel
// serves a row-major operand (a_step = 1) and a transposed one (a_row = 1).
template <class C, int R, int NV, Start S>
void panel_fma(const C* a, std::int64_t a_row, std::int64_t a_step, std::int64_t n, const C* b, std::int64_t ldb,
               C* c, std::int64_t ldc, const C* col_scale) {
  constexpr std::int64_t W = NV * kLanes<C>;
  C acc[R][W];
  for (int r = 0; r < R; ++r) {
#pragma omp simd
    for (std::int64_t i = 0; i < W; ++i) {
      acc[r][i] = S == Start::zero ? C(0) : S == Start::accumulate ? c[r * ldc + i] : c[r * ldc + i] * col_scale[i];
    }
  }
  for (std::int64_t k = 0; k < n; ++k) {
    const C* bk = b + k * ldb;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const C x = a[r * a_row + k * a_step];
#pragma omp simd
      for (std::int64_t i = 0; i < W; ++i) acc[r][i] += x * bk[i];
    }
  }
  for (int r = 0; r < R; ++r) {
#pragma omp simd
    for (std::int64_t i = 0; i < W; ++i) c[r * ldc + i] = acc[r][i];
  }
}

// panel_fma over `rows` rows, kPanelRows at a time.
template <class C, int NV, Start S>
void panel_rows(std::int64_t rows, const C* a, std::int64_t a_row, std::int64_t a_step, std::int64_t n, const C* b,
                std::int64_t ldb, C* c, std::int64_t ldc, const C* col_scale = nullptr) {
  std::int64_t r = 0;
  for (; r + kPanelRows <= rows; r += kPanelRows) {
    panel_fma<C, kPanelRows, NV, S>(a + r * a_row, a_row, a_step, n, b, ldb, c + r * ldc, ldc, col_scale);
  }
  a += r * a_row;
  c += r * ldc;
  switch (rows - r) {
    case 1: panel_fma<C, 1, NV, S>(a, a_row, a_step, n, b, ldb, c, ldc, col_scale); break;
    case 2: panel_fma<C, 2, NV, S>(a, a_row, a_step, n, b, ldb, c, ldc, col_scale); break;
    case 3: panel_fma<C, 3, NV, S>(a, a_row, a_step, n, b, ldb, c, ldc, col_scale); break;
    case 4: panel_fma<C, 4, NV, S>(a, a_row, a_step, n, b, ldb, c, ldc, col_scale); break;
    case 5: panel_fma<C, 5, NV, S>(a, a_row, a_step, n, b, ldb, c, ldc, col_scale); break;
    default: break;
  }
}

// c[rows][width] += a·b with width a multiple of the vector length, 4 vectors at a time.
template <class C>
void panel_accumulate_wide(std::int64_t rows, std::int64_t width, const C* a, std::int64_t a_row, std::int64_t n,
                           const C* b, std::int64_t ldb, C* c, std::int64_t ldc) {
  constexpr std::int64_t L = kLanes<C>;
  constexpr Start S = Start::accumulate;
  std::int64_t w = 0;
  for (; w + 4 * L <= width; w += 4 * L) panel_rows<C, 4, S>(rows, a, a_row, 1, n, b + w, ldb, c + w, ldc);
  switch ((width - w) / L) {
    case 1: panel_rows<C, 1, S>(rows, a, a_row, 1, n, b + w, ldb, c + w, ldc); break;
    case 2: panel_rows<C, 2, S>(rows, a, a_row, 1, n, b + w, ldb, c + w, ldc); break;
    case 3: panel_rows<C, 3, S>(rows, a, a_row, 1, n, b + w, ldb, c + w, ldc); break;
    default: break;
  }
}

// The rows of one (b, h) of a [B, H, T, n] tensor: element (i, e) at p[i·ld + e].
template <class T>
struct HeadRows {
  T* p;
  std::int64_t ld;
  T* row(std::int64_t i) const { return p + i * ld; }
};

template <class T>
HeadRows<T> head_rows(const Tensor& t, std::int64_t b, std::int64_t h) {
  return {t.data<T>() + b * t.stride(0) + h * t.stride(1), t.stride(2)};
}
template <class T>
HeadRows<const T> head_rows_in(const Tensor& t, std::int64_t b, std::int64_t h) {
  const HeadRows<T> r = head_rows<T>(t, b, h);
  return {r.p, r.ld};
}

// Rows [r0, r0 + n) of a head in the compute type: the tensor itself for f32
// and f64, a converted copy in `buf` (n × width) for 16-bit types.
template <class T>
HeadRows<const compute_t<T>> compute_rows(HeadRows<const T> src, std::int64_t r0, [[maybe_unused]] std::int64_t n,
                                          [[maybe_unused]] std::int64_t width, [[maybe_unused]] compute_t<T>* buf) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, C>) {
    return {src.row(r0), src.ld};
  } else {
    for (std::int64_t r = 0; r < n; ++r) {
      const T* s = src.row(r0 + r);
#pragma omp simd
      for (std::int64_t e = 0; e < width; ++e) buf[r * width + e] = load(s[e]);
    }
    return {buf, width};
  }
}

// Sets to -inf the scores of st (keys j0 + [0, nk) × queries i0 + [0, Q)) that
// a query may not see: padded keys, and under `causal` keys j > i + shift.
template <class C>
void mask_tile(C* st, std::int64_t nk, std::int64_t j0, std::int64_t i0, const bool* pad, bool causal,
               std::int64_t shift) {
  constexpr std::int64_t Q = kBlock<C>;
  constexpr C kNegInf = -std::numeric_limits<C>::infinity();
  for (std::int64_t jj = 0; jj < nk; ++jj) {
    C* row = st + jj * Q;
    // Query i0 + ii sees key j exactly when ii >= j - shift - i0.
    const std::int64_t hidden =
        pad != nullptr && pad[j0 + jj] ? Q : causal ? std::clamp<std::int64_t>(j0 + jj - shift - i0, 0, Q) : 0;
    std::fill(row, row + hidden, kNegInf);
  }
}

// The sizes and options of one call.
struct Dims {
  std::int64_t B, H, Tq, Tk, d, dv, shift;  // causal: query i sees keys j <= i + shift
  bool causal;
  double scale;
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double scale) {
  return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3), v.size(3), k.size(2) - q.size(2), causal, scale};
}

// ---- forward ---------------------------------------------------------------------

// Scratch of one forward worker, in units of the compute type.
template <class T>
struct ForwardScratch {
  using C = compute_t<T>;
  static constexpr std::int64_t Q = kBlock<C>;
  static constexpr bool kConvert = !std::is_same_v<T, C>;
  static std::int64_t size(const Dims& s) {
    return s.d * Q + Q * Q + s.dv * Q + 4 * Q + Q * std::max(s.d, s.dv) + (kConvert ? Q * (s.d + s.dv) : 0);
  }
  ForwardScratch(C* p, const Dims& s)
      : qt(p), st(qt + s.d * Q), ot(st + Q * Q), m(ot + s.dv * Q), l(m + Q), sub(l + Q), alpha(sub + Q),
        rows(alpha + Q), kbuf(kConvert ? rows + Q * std::max(s.d, s.dv) : nullptr),
        vbuf(kConvert ? kbuf + Q * s.d : nullptr) {}
  C *qt, *st, *ot, *m, *l, *sub, *alpha;
  C* rows;  // [Q][max(d, dv)]: q rows on the way in, output rows on the way out
  C *kbuf, *vbuf;
};

// One query block [i0, i0 + nq) of head (b, h).
template <class T>
void forward_block(const AttentionForward& a, const Dims& s, std::int64_t b, std::int64_t h, std::int64_t i0,
                   ForwardScratch<T>& w) {
  using C = compute_t<T>;
  constexpr std::int64_t Q = kBlock<C>;
  const std::int64_t nq = std::min(Q, s.Tq - i0);
  const HeadRows<const T> q = head_rows_in<T>(a.q, b, h), k = head_rows_in<T>(a.k, b, h),
                          v = head_rows_in<T>(a.v, b, h);
  const HeadRows<T> out = head_rows<T>(a.out, b, h);
  const bool* pad = a.key_padding_mask.defined() ? a.key_padding_mask.data<bool>() + b * s.Tk : nullptr;
  const C scale = static_cast<C>(s.scale);

  // q's rows are far apart in a packed qkv and usually not in cache: copy them
  // with whole-row vector loads first (many misses in flight), then transpose in L1.
  for (std::int64_t ii = 0; ii < nq; ++ii) {
    const T* qi = q.row(i0 + ii);
    C* r = w.rows + ii * s.d;
#pragma omp simd
    for (std::int64_t e = 0; e < s.d; ++e) r[e] = scale * load(qi[e]);
  }
  for (std::int64_t e = 0; e < s.d; ++e) {
    C* col = w.qt + e * Q;
    for (std::int64_t ii = 0; ii < Q; ++ii) col[ii] = ii < nq ? w.rows[ii * s.d + e] : C(0);
  }
  std::fill(w.ot, w.ot + s.dv * Q, C(0));
  std::fill(w.m, w.m + Q, -std::numeric_limits<C>::infinity());
  std::fill(w.l, w.l + Q, C(0));

  // Keys past the last query's horizon are hidden from the whole block.
  const std::int64_t kend = s.causal ? std::clamp<std::int64_t>(i0 + nq + s.shift, 0, s.Tk) : s.Tk;
  for (std::int64_t j0 = 0; j0 < kend; j0 += Q) {
    const std::int64_t nk = std::min(Q, kend - j0);
    const auto kr = compute_rows(k, j0, nk, s.d, w.kbuf);
    const auto vr = compute_rows(v, j0, nk, s.dv, w.vbuf);
    panel_rows<C, 4, Start::zero>(nk, kr.p, kr.ld, 1, s.d, w.qt, Q, w.st, Q);
    mask_tile(w.st, nk, j0, i0, pad, s.causal, s.shift);

    // Online softmax: the new running maximum, the factor that moves the old
    // sums onto it, then the tile's exponentials. A row that has seen only
    // hidden keys keeps max -inf; subtracting 0 instead leaves its terms 0, not NaN.
    alignas(64) C tile_max[Q];
    std::fill(tile_max, tile_max + Q, -std::numeric_limits<C>::infinity());
    for (std::int64_t jj = 0; jj < nk; ++jj) {
      const C* row = w.st + jj * Q;
#pragma omp simd
      for (std::int64_t ii = 0; ii < Q; ++ii) tile_max[ii] = std::max(tile_max[ii], row[ii]);
    }
#pragma omp simd
    for (std::int64_t ii = 0; ii < Q; ++ii) {
      const C m_new = std::max(w.m[ii], tile_max[ii]);
      w.sub[ii] = m_new == -std::numeric_limits<C>::infinity() ? C(0) : m_new;
      w.alpha[ii] = exp_c(w.m[ii] - w.sub[ii]);
      w.m[ii] = m_new;
    }
    alignas(64) C tile_sum[Q] = {};
    for (std::int64_t jj = 0; jj < nk; ++jj) {
      C* row = w.st + jj * Q;
#pragma omp simd
      for (std::int64_t ii = 0; ii < Q; ++ii) {
        const C p = exp_c(row[ii] - w.sub[ii]);
        row[ii] = p;
        tile_sum[ii] += p;
      }
    }
#pragma omp simd
    for (std::int64_t ii = 0; ii < Q; ++ii) w.l[ii] = w.l[ii] * w.alpha[ii] + tile_sum[ii];
    // ot = ot·alpha + vᵀ·P: rows are output dims e, a[e][jj] = v_jj[e].
    panel_rows<C, 4, Start::rescale>(s.dv, vr.p, 1, vr.ld, nk, w.st, Q, w.ot, Q, w.alpha);
  }

  // Normalise and transpose in L1, then write whole output rows (a scalar
  // store per element would queue a cache miss per element of fresh memory).
  C* lse = a.lse.data<C>() + (b * s.H + h) * s.Tq + i0;
  for (std::int64_t ii = 0; ii < Q; ++ii) {
    const bool seen = w.l[ii] > C(0);  // else no visible key: output 0
    w.alpha[ii] = seen ? C(1) / w.l[ii] : C(0);
    if (ii < nq) lse[ii] = seen ? w.m[ii] + std::log(w.l[ii]) : std::numeric_limits<C>::infinity();
  }
  for (std::int64_t e = 0; e < s.dv; ++e) {
    const C* col = w.ot + e * Q;
    for (std::int64_t ii = 0; ii < nq; ++ii) w.rows[ii * s.dv + e] = col[ii] * w.alpha[ii];
  }
  for (std::int64_t ii = 0; ii < nq; ++ii) {
    const C* r = w.rows + ii * s.dv;
    T* o = out.row(i0 + ii);
#pragma omp simd
    for (std::int64_t e = 0; e < s.dv; ++e) o[e] = convert<T>(r[e]);
  }
}

template <class T>
void attention_kernel(const AttentionForward& a) {
  using C = compute_t<T>;
  constexpr std::int64_t Q = kBlock<C>;
  const Dims s = dims_of(a.q, a.k, a.v, a.causal, a.scale);
  const std::int64_t nqb = ceil_div(s.Tq, Q), items = s.B * s.H * nqb;
  if (items == 0) return;
  const std::int64_t workers = std::min<std::int64_t>(num_threads(), items);
  const std::int64_t per_worker = ForwardScratch<T>::size(s);
  const Tensor scratch = Tensor::empty({workers * per_worker}, dtype_v<C>);
  parallel_for(0, workers, 1, [&](std::int64_t w0, std::int64_t w1) {
    for (std::int64_t wi = w0; wi < w1; ++wi) {
      ForwardScratch<T> w(scratch.data<C>() + wi * per_worker, s);
      for (std::int64_t item = items * wi / workers; item < items * (wi + 1) / workers; ++item) {
        // Within a head, blocks alternate from both ends (0, n-1, 1, n-2, ...) so
        // any contiguous run of items holds about as much causal work as another.
        const std::int64_t bh = item / nqb, p = item % nqb;
        const std::int64_t qb = p % 2 == 0 ? p / 2 : nqb - 1 - p / 2;
        forward_block<T>(a, s, bh / s.H, bh % s.H, qb * Q, w);
      }
    }
  });
}

// ---- backward --------------------------------------------------------------------

// Scratch of one backward worker: the packed query side of a whole head, and
// one key tile's state.
template <class T>
struct BackwardScratch {
  using C = compute_t<T>;
  static constexpr std::int64_t Q = kBlock<C>, L = kLanes<C>;
  static constexpr bool kConvert = !std::is_same_v<T, C>;
  std::int64_t nqb, tq_pad, d_pad, dv_pad;

  explicit BackwardScratch(const Dims& s)
      : nqb(ceil_div(s.Tq, Q)), tq_pad(nqb * Q), d_pad(ceil_div(s.d, L) * L), dv_pad(ceil_div(s.dv, L) * L) {}
  std::int64_t size(const Dims& s) const {
    return 2 * tq_pad * s.d + tq_pad * d_pad + tq_pad * s.dv + tq_pad * dv_pad + 2 * tq_pad + 2 * Q * Q +
           Q * (d_pad + dv_pad) + (kConvert ? Q * (s.d + s.dv) : 0);
  }
  void carve(C* p, const Dims& s) {
    qt = p;                       // [nqb][d][Q]   scale·q, transposed per block
    dqt = qt + tq_pad * s.d;      // [nqb][d][Q]   Σ dS·k, transposed per block
    qr = dqt + tq_pad * s.d;      // [tq_pad][d_pad] scale·q rows
    dot = qr + tq_pad * d_pad;    // [nqb][dv][Q]  dO, transposed per block
    dor = dot + tq_pad * s.dv;    // [tq_pad][dv_pad] dO rows
    lse = dor + tq_pad * dv_pad;  // [tq_pad] (+inf past Tq)
    dsum = lse + tq_pad;          // [tq_pad] D = rowsum(dO∘O)
    st = dsum + tq_pad;           // [Q keys][Q queries]: scores, then P
    dpt = st + Q * Q;             // [Q][Q]: dP, then dS
    dkr = dpt + Q * Q;            // [Q][d_pad]
    dvr = dkr + Q * d_pad;        // [Q][dv_pad]
    kbuf = kConvert ? dvr + Q * dv_pad : nullptr;  // [Q][d]  (16-bit only)
    vbuf = kConvert ? kbuf + Q * s.d : nullptr;    // [Q][dv] (16-bit only)
  }
  C *qt, *dqt, *qr, *dot, *dor, *lse, *dsum, *st, *dpt, *dkr, *dvr, *kbuf, *vbuf;
};

// Packs the query side of head (b, h) and zeroes its dQ accumulator.
template <class T>
void pack_queries(const AttentionBackward& a, const Dims& s, std::int64_t b, std::int64_t h, BackwardScratch<T>& w) {
  using C = compute_t<T>;
  constexpr std::int64_t Q = kBlock<C>;
  const HeadRows<const T> q = head_rows_in<T>(a.q, b, h), o = head_rows_in<T>(a.out, b, h),
                          go = head_rows_in<T>(a.grad_out, b, h);
  const C* lse = a.lse.data<C>() + (b * s.H + h) * s.Tq;
  const C scale = static_cast<C>(s.scale);
  std::fill(w.dqt, w.dqt + w.tq_pad * s.d, C(0));
  for (std::int64_t i = 0; i < w.tq_pad; ++i) {
    const std::int64_t blk = i / Q, ii = i % Q;
    C* qt = w.qt + blk * s.d * Q + ii;
    C* dot = w.dot + blk * s.dv * Q + ii;
    C* qr = w.qr + i * w.d_pad;
    C* dor = w.dor + i * w.dv_pad;
    if (i >= s.Tq) {  // padding: P = exp(score - inf) = 0 and every product adds 0
      for (std::int64_t e = 0; e < s.d; ++e) qt[e * Q] = C(0);
      for (std::int64_t e = 0; e < s.dv; ++e) dot[e * Q] = C(0);
      std::fill(qr, qr + w.d_pad, C(0));
      std::fill(dor, dor + w.dv_pad, C(0));
      w.lse[i] = std::numeric_limits<C>::infinity();
      w.dsum[i] = C(0);
      continue;
    }
    const T* qi = q.row(i);
    for (std::int64_t e = 0; e < s.d; ++e) qt[e * Q] = qr[e] = scale * load(qi[e]);
    std::fill(qr + s.d, qr + w.d_pad, C(0));
    const T* gi = go.row(i);
    const T* oi = o.row(i);
    C dsum = 0;
    for (std::int64_t e = 0; e < s.dv; ++e) {
      const C g = load(gi[e]);
      dot[e * Q] = dor[e] = g;
      dsum += g * load(oi[e]);
    }
    std::fill(dor + s.dv, dor + w.dv_pad, C(0));
    w.lse[i] = lse[i];
    w.dsum[i] = dsum;
  }
}

template <class T>
void backward_head(const AttentionBackward& a, const Dims& s, std::int64_t b, std::int64_t h, BackwardScratch<T>& w) {
  using C = compute_t<T>;
  constexpr std::int64_t Q = kBlock<C>;
  pack_queries(a, s, b, h, w);
  const HeadRows<const T> k = head_rows_in<T>(a.k, b, h), v = head_rows_in<T>(a.v, b, h);
  const HeadRows<T> dk = head_rows<T>(a.dk, b, h), dv = head_rows<T>(a.dv, b, h), dq = head_rows<T>(a.dq, b, h);
  const bool* pad = a.key_padding_mask.defined() ? a.key_padding_mask.data<bool>() + b * s.Tk : nullptr;

  for (std::int64_t j0 = 0; j0 < s.Tk; j0 += Q) {
    const std::int64_t nk = std::min(Q, s.Tk - j0);
    const auto kr = compute_rows(k, j0, nk, s.d, w.kbuf);
    const auto vr = compute_rows(v, j0, nk, s.dv, w.vbuf);
    std::fill(w.dkr, w.dkr + nk * w.d_pad, C(0));
    std::fill(w.dvr, w.dvr + nk * w.dv_pad, C(0));
    // Under causal, queries before j0 - shift see none of this tile.
    const std::int64_t first_block = s.causal ? std::max<std::int64_t>(0, j0 - s.shift) / Q : 0;
    for (std::int64_t blk = first_block; blk < w.nqb; ++blk) {
      const std::int64_t i0 = blk * Q, nq = std::min(Q, s.Tq - i0);
      panel_rows<C, 4, Start::zero>(nk, kr.p, kr.ld, 1, s.d, w.qt + blk * s.d * Q, Q, w.st, Q);
      mask_tile(w.st, nk, j0, i0, pad, s.causal, s.shift);
      const C* lse = w.lse + i0;
      for (std::int64_t jj = 0; jj < nk; ++jj) {
        C* row = w.st + jj * Q;
#pragma omp simd
        for (std::int64_t ii = 0; ii < Q; ++ii) row[ii] = exp_c(row[ii] - lse[ii]);
      }
      // dV += P·dO
      panel_accumulate_wide(nk, w.dv_pad, w.st, Q, nq, w.dor + i0 * w.dv_pad, w.dv_pad, w.dvr, w.dv_pad);
      // dPᵀ = v·dOᵀ, then dS = P∘(dP - D)
      panel_rows<C, 4, Start::zero>(nk, vr.p, vr.ld, 1, s.dv, w.dot + blk * s.dv * Q, Q, w.dpt, Q);
      const C* dsum = w.dsum + i0;
      for (std::int64_t jj = 0; jj < nk; ++jj) {
        const C* p = w.st + jj * Q;
        C* row = w.dpt + jj * Q;
#pragma omp simd
        for (std::int64_t ii = 0; ii < Q; ++ii) row[ii] = p[ii] * (row[ii] - dsum[ii]);
      }
      // dK += dS·(scale·q);  dQᵀ += kᵀ·dS
      panel_accumulate_wide(nk, w.d_pad, w.dpt, Q, nq, w.qr + i0 * w.d_pad, w.d_pad, w.dkr, w.d_pad);
      panel_rows<C, 4, Start::accumulate>(s.d, kr.p, 1, kr.ld, nk, w.dpt, Q, w.dqt + blk * s.d * Q, Q);
    }
    for (std::int64_t jj = 0; jj < nk; ++jj) {
      T* dki = dk.row(j0 + jj);
      T* dvi = dv.row(j0 + jj);
      for (std::int64_t e = 0; e < s.d; ++e) dki[e] = convert<T>(w.dkr[jj * w.d_pad + e]);
      for (std::int64_t e = 0; e < s.dv; ++e) dvi[e] = convert<T>(w.dvr[jj * w.dv_pad + e]);
    }
  }
  // dQ: transposed back into rows in scratch (qr is free now), then written
  // row by row with vector stores (scalar stores into fresh memory would queue
  // a cache miss each).
  const C scale = static_cast<C>(s.scale);
  for (std::int64_t blk = 0; blk < w.nqb; ++blk) {
    for (std::int64_t e = 0; e < s.d; ++e) {
      const C* col = w.dqt + (blk * s.d + e) * Q;
      C* rows = w.qr + blk * Q * w.d_pad + e;
      for (std::int64_t ii = 0; ii < Q; ++ii) rows[ii * w.d_pad] = scale * col[ii];
    }
  }
  for (std::int64_t i = 0; i < s.Tq; ++i) {
    const C* r = w.qr + i * w.d_pad;
    T* dqi = dq.row(i);
#pragma omp simd
    for (std::int64_t e = 0; e < s.d; ++e) dqi[e] = convert<T>(r[e]);
  }
}

template <class T>
void attention_backward_kernel(const AttentionBackward& a) {
  using C = compute_t<T>;
  const Dims s = dims_of(a.q, a.k, a.v, a.causal, a.scale);
  const std::int64_t heads = s.B * s.H;
  if (heads == 0) return;
  const std::int64_t workers = std::min<std::int64_t>(num_threads(), heads);
  const std::int64_t per_worker = BackwardScratch<T>(s).size(s);
  const Tensor scratch = Tensor::empty({workers * per_worker}, dtype_v<C>);
  parallel_for(0, workers, 1, [&](std::int64_t w0, std::int64_t w1) {
    for (std::int64_t wi = w0; wi < w1; ++wi) {
      BackwardScratch<T> w(s);
      w.carve(scratch.data<C>() + wi * per_worker, s);
      for (std::int64_t bh = heads * wi / workers; bh < heads * (wi + 1) / workers; ++bh) {
        backward_head<T>(a, s, bh / s.H, bh % s.H, w);
      }
    }
  });
}

}  // namespace

void register_attention_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  // f16 has no kernel: the op layer falls back to the composed attention for it.
  auto add = [&](auto t) {
    using T = decltype(t);
    attention_kernels().set(cpu, dtype_v<T>, &attention_kernel<T>);
    attention_backward_kernels().set(cpu, dtype_v<T>, &attention_backward_kernel<T>);
  };
  add(float{});
  add(double{});
  add(bf16{});
}

}  // namespace kiln::cpu
