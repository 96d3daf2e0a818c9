// CPU kernels for the fused neural-network functions: softmax / log-softmax,
// cross-entropy and layer norm, forward and backward. Each works on rows of a
// contiguous [rows, n] tensor, one parallel_for over rows with a contiguous
// inner loop; f32 uses the vectorisable exp_f32. 16-bit types compute in f32,
// and per-row statistics (lse, mean, rstd) are stored in compute_t<T>.
//
// Row sums go through lane_sum: f64 accumulators (an f32 sum of thousands of
// exponentials drops the small terms and is biased low by ~1e-5) in lanes whose
// association order the code fixes, so a row gives the same bits however rows
// are spread over threads (an `omp simd reduction` leaves the order to the
// compiler, which may vectorise the inlined single-thread path differently).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/row_sums.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

constexpr std::int64_t kGrainElements = 16384;

std::int64_t row_grain(std::int64_t n) { return std::max<std::int64_t>(1, kGrainElements / std::max<std::int64_t>(n, 1)); }

// Σ exp(x[i] - m).
template <class T>
double row_sum_exp(const T* x, std::int64_t n, compute_t<T> m) {
  return lane_sum(n, [x, m](std::int64_t i) { return exp_c(load(x[i]) - m); });
}

// ---- softmax ---------------------------------------------------------------------
// One row of length n; x and y may alias.
template <class T>
void softmax_row(const T* x, T* y, std::int64_t n, bool log_space) {
  using C = compute_t<T>;
  const C m = row_max(x, n);
  if constexpr (std::is_same_v<T, C>) {
    if (!log_space) {  // keep the exponentials in y and scale them, one exp per element
      const double s = lane_sum(n, [x, y, m](std::int64_t i) {
        const C e = exp_c(x[i] - m);
        y[i] = e;
        return e;
      });
      const C inv = static_cast<C>(1.0 / s);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] *= inv;
      return;
    }
  }
  const double s = row_sum_exp(x, n, m);
  if (log_space) {
    const C lse = static_cast<C>(m + std::log(s));
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) y[i] = convert<T>(load(x[i]) - lse);
  } else {
    const C inv = static_cast<C>(1.0 / s);
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) y[i] = convert<T>(exp_c(load(x[i]) - m) * inv);
  }
}

// x, y contiguous [rows, n]; y = softmax(x) (or log_softmax) along n.
template <class T>
void softmax_kernel(const Tensor& x, const Tensor& y, bool log_space) {
  const std::int64_t rows = x.shape()[0], n = x.shape()[1];
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) softmax_row(xp + r * n, yp + r * n, n, log_space);
  });
}

// dy, y, dx contiguous [rows, n]. softmax: dx = y·(dy - Σ dy·y);
// log_softmax: dx = dy - exp(y)·Σ dy.
template <class T>
void softmax_backward_kernel(const Tensor& dy, const Tensor& y, const Tensor& dx, bool log_space) {
  using C = compute_t<T>;
  const std::int64_t rows = y.shape()[0], n = y.shape()[1];
  const T* gp = dy.data<T>();
  const T* yp = y.data<T>();
  T* dp = dx.data<T>();
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* g = gp + r * n;
      const T* yr = yp + r * n;
      T* d = dp + r * n;
      if (log_space) {
        const C s = static_cast<C>(lane_sum(n, [g](std::int64_t i) { return load(g[i]); }));
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert<T>(load(g[i]) - exp_c(load(yr[i])) * s);
      } else {
        const C s = static_cast<C>(lane_sum(n, [g, yr](std::int64_t i) { return load(g[i]) * load(yr[i]); }));
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert<T>(load(yr[i]) * (load(g[i]) - s));
      }
    }
  });
}

// ---- cross-entropy -------------------------------------------------------------------
// logits contiguous [N, C], target i64 [N] (each a class or ignore_index);
// loss, lse compute_t<T> [N]. loss = lse - (1-ε)·x[t] - ε·mean(x), 0 on ignored rows.
template <class T>
void cross_entropy_kernel(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                          double label_smoothing, const Tensor& loss, const Tensor& lse) {
  using C = compute_t<T>;
  const std::int64_t rows = logits.shape()[0], n = logits.shape()[1];
  const T* xp = logits.data<T>();
  const std::int64_t* tp = target.data<std::int64_t>();
  C* lp = loss.data<C>();
  C* sp = lse.data<C>();
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t t = tp[r];
      if (t == ignore_index) {
        lp[r] = C(0);
        sp[r] = C(0);
        continue;
      }
      const T* x = xp + r * n;
      const C m = row_max(x, n);
      const double l = static_cast<double>(m) + std::log(row_sum_exp(x, n, m));
      double value = l - (1.0 - label_smoothing) * static_cast<double>(load(x[t]));
      if (label_smoothing > 0.0) {
        const double sx = lane_sum(n, [x](std::int64_t i) { return load(x[i]); });
        value -= label_smoothing * sx / static_cast<double>(n);
      }
      lp[r] = static_cast<C>(value);
      sp[r] = static_cast<C>(l);
    }
  });
}

// dlogits [N, C] = grad_row[N]·(softmax - (1-ε)·onehot(target) - ε/C); 0 on ignored rows.
// lse and grad_row are compute_t<T> [N].
template <class T>
void cross_entropy_backward_kernel(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                   const Tensor& grad_row, std::int64_t ignore_index, double label_smoothing,
                                   const Tensor& dlogits) {
  using C = compute_t<T>;
  const std::int64_t rows = logits.shape()[0], n = logits.shape()[1];
  const T* xp = logits.data<T>();
  const std::int64_t* tp = target.data<std::int64_t>();
  const C* sp = lse.data<C>();
  const C* gp = grad_row.data<C>();
  T* dp = dlogits.data<T>();
  const C eps = static_cast<C>(label_smoothing);
  const C off = eps / static_cast<C>(n);
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      T* d = dp + r * n;
      const std::int64_t t = tp[r];
      if (t == ignore_index) {
        std::fill(d, d + n, convert<T>(0.0));
        continue;
      }
      const T* x = xp + r * n;
      const C g = gp[r], l = sp[r];
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) d[i] = convert<T>(g * (exp_c(load(x[i]) - l) - off));
      d[t] = convert<T>(g * (exp_c(load(x[t]) - l) - off - (C(1) - eps)));
    }
  });
}

// ---- layer norm ------------------------------------------------------------------------
// x contiguous [rows, n], weight/bias [n] or undefined; y [rows, n];
// mean, rstd compute_t<T> [rows] (biased variance, as PyTorch).
template <class T>
void layer_norm_kernel(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                       const Tensor& mean, const Tensor& rstd) {
  using C = compute_t<T>;
  const std::int64_t rows = x.shape()[0], n = x.shape()[1];
  const T* xp = x.data<T>();
  const T* wp = weight.defined() ? weight.data<T>() : nullptr;
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
  T* yp = y.data<T>();
  C* mp = mean.data<C>();
  C* rp = rstd.data<C>();
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* xr = xp + r * n;
      T* yr = yp + r * n;
      const C mu = static_cast<C>(lane_sum(n, [xr](std::int64_t i) { return load(xr[i]); }) / static_cast<double>(n));
      const double sq = lane_sum(n, [xr, mu](std::int64_t i) {
        const C dv = load(xr[i]) - mu;
        return dv * dv;
      });
      const C rs = static_cast<C>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
      mp[r] = mu;
      rp[r] = rs;
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) {
        C v = (load(xr[i]) - mu) * rs;
        if (wp != nullptr) v *= load(wp[i]);
        if (bp != nullptr) v += load(bp[i]);
        yr[i] = convert<T>(v);
      }
    }
  });
}

// dy, x contiguous [rows, n]; weight [n] or undefined; mean, rstd compute_t<T> [rows];
// dx [rows, n]; dweight, dbias [n] or undefined when not needed.
//   x̂ = (x - mean)·rstd, ĝ = dy·weight, dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)),
//   dweight = Σ_rows dy·x̂, dbias = Σ_rows dy.
// dweight/dbias are summed per fixed block of rows in f64, then across blocks in
// order, so the result does not depend on the thread count.
template <class T>
void layer_norm_backward_kernel(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                const Tensor& rstd, const Tensor& dx, const Tensor& dweight, const Tensor& dbias) {
  using C = compute_t<T>;
  const std::int64_t rows = x.shape()[0], n = x.shape()[1];
  const T* gp = dy.data<T>();
  const T* xp = x.data<T>();
  const T* wp = weight.defined() ? weight.data<T>() : nullptr;
  const C* mp = mean.data<C>();
  const C* rp = rstd.data<C>();
  T* dp = dx.data<T>();
  const bool need_w = dweight.defined(), need_b = dbias.defined();
  constexpr std::int64_t kMaxBlocks = 64;
  const std::int64_t block = std::max<std::int64_t>(16, (rows + kMaxBlocks - 1) / kMaxBlocks);
  const std::int64_t blocks = (rows + block - 1) / block;
  std::vector<double> part_w(need_w ? static_cast<std::size_t>(blocks * n) : 0);
  std::vector<double> part_b(need_b ? static_cast<std::size_t>(blocks * n) : 0);
  parallel_for(0, blocks, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t blk = b; blk < e; ++blk) {
      double* pw = need_w ? part_w.data() + blk * n : nullptr;
      double* pb = need_b ? part_b.data() + blk * n : nullptr;
      for (std::int64_t r = blk * block; r < std::min(rows, (blk + 1) * block); ++r) {
        const T* g = gp + r * n;
        const T* xr = xp + r * n;
        T* d = dp + r * n;
        const C mu = mp[r], rs = rp[r];
        const auto ghat = [g, wp](std::int64_t i) { return load(g[i]) * (wp != nullptr ? load(wp[i]) : C(1)); };
        const C a = static_cast<C>(lane_sum(n, ghat) / static_cast<double>(n));
        const C c = static_cast<C>(lane_sum(n, [&ghat, xr, mu, rs](std::int64_t i) {
                                     return ghat(i) * ((load(xr[i]) - mu) * rs);
                                   }) /
                                   static_cast<double>(n));
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) {
          const C xh = (load(xr[i]) - mu) * rs;
          const C gh = load(g[i]) * (wp != nullptr ? load(wp[i]) : C(1));
          d[i] = convert<T>(rs * (gh - a - xh * c));
        }
        if (pw != nullptr) {
#pragma omp simd
          for (std::int64_t i = 0; i < n; ++i) pw[i] += static_cast<double>(load(g[i]) * (load(xr[i]) - mu) * rs);
        }
        if (pb != nullptr) {
#pragma omp simd
          for (std::int64_t i = 0; i < n; ++i) pb[i] += static_cast<double>(load(g[i]));
        }
      }
    }
  });
  auto combine = [&](const std::vector<double>& part, const Tensor& out) {
    T* o = out.data<T>();
    parallel_for(0, n, 1024, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        double s = 0;
        for (std::int64_t blk = 0; blk < blocks; ++blk) s += part[static_cast<std::size_t>(blk * n + i)];
        o[i] = convert<T>(s);
      }
    });
  };
  if (need_w) combine(part_w, dweight);
  if (need_b) combine(part_b, dbias);
}

}  // namespace

void register_nn_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  visit_float_dtypes([&](auto t) {
    using T = decltype(t);
    softmax_kernels().set(cpu, dtype_v<T>, &softmax_kernel<T>);
    softmax_backward_kernels().set(cpu, dtype_v<T>, &softmax_backward_kernel<T>);
    cross_entropy_kernels().set(cpu, dtype_v<T>, &cross_entropy_kernel<T>);
    cross_entropy_backward_kernels().set(cpu, dtype_v<T>, &cross_entropy_backward_kernel<T>);
    layer_norm_kernels().set(cpu, dtype_v<T>, &layer_norm_kernel<T>);
    layer_norm_backward_kernels().set(cpu, dtype_v<T>, &layer_norm_backward_kernel<T>);
  });
}

}  // namespace kiln::cpu
