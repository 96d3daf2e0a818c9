// Fused batch normalisation on the CPU (tables in ops/batch_norm_kernels.h).
// Work is split over channels: a channel's statistics and its normalisation
// touch only that channel's values, so threads never share an accumulator and
// a channel's sums come out bit-identical whatever the thread count.
//
// Layout [N, C, S]: a channel is N segments of S contiguous values. For S of
// at least kLanes each segment is summed in kLanes fixed f64 lanes (vectorised,
// and a fixed association order, so no thread-count or inlining dependence);
// for smaller S (BatchNorm1d on [N, C] has S = 1) a block of channels is
// walked row by row, so the inner loop runs over neighbouring channels.
//
// Forward statistics take one pass: sums of (x - shift) and (x - shift)² in
// f64, shifted by the channel's first value so the variance does not cancel
// when the mean is large against the spread.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/batch_norm_kernels.h"

namespace kiln::cpu {

namespace {

constexpr int kLanes = 16;  // two AVX-512 registers of f64: two add chains in flight
// Channels summed together on the small-S path (their accumulators live on the stack).
constexpr std::int64_t kChannelBlock = 64;
constexpr std::int64_t kGrainElements = 16384;

struct Layout {
  std::int64_t N, C, S;
  std::int64_t at(std::int64_t n, std::int64_t c) const { return (n * C + c) * S; }
};

// Channels per parallel chunk so that a chunk holds about kGrainElements values.
std::int64_t channel_grain(const Layout& l) {
  return std::max<std::int64_t>(1, kGrainElements / std::max<std::int64_t>(l.N * l.S, 1));
}

// For channels [c0, c1) (at most kChannelBlock of them): a[c - c0] = Σ ta and
// b[c - c0] = Σ tb over the channel's values, where term(c, i, ta, tb) adds
// the terms of flat element i of channel c into ta and tb.
template <class Term>
void channel_sums(const Layout& l, std::int64_t c0, std::int64_t c1, Term term, double* a, double* b) {
  if (l.S >= kLanes) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double la[kLanes] = {}, lb[kLanes] = {};
      for (std::int64_t n = 0; n < l.N; ++n) {
        const std::int64_t base = l.at(n, c);
        std::int64_t s = 0;
        for (; s + kLanes <= l.S; s += kLanes) {
#pragma omp simd
          for (int k = 0; k < kLanes; ++k) term(c, base + s + k, la[k], lb[k]);
        }
        for (; s < l.S; ++s) term(c, base + s, la[0], lb[0]);
      }
      double sa = 0, sb = 0;
      for (int k = 0; k < kLanes; ++k) {
        sa += la[k];
        sb += lb[k];
      }
      a[c - c0] = sa;
      b[c - c0] = sb;
    }
    return;
  }
  std::fill(a, a + (c1 - c0), 0.0);
  std::fill(b, b + (c1 - c0), 0.0);
  for (std::int64_t n = 0; n < l.N; ++n) {
    if (l.S == 1) {  // [N, C]: one value per channel and row, vectorised across channels
      const std::int64_t row = n * l.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) term(c, row + c, a[c - c0], b[c - c0]);
      continue;
    }
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t base = l.at(n, c);
      for (std::int64_t s = 0; s < l.S; ++s) term(c, base + s, a[c - c0], b[c - c0]);
    }
  }
}

// Calls body(c, i) for every flat element i of channels [c0, c1), rows outer
// so that small segments are visited in memory order.
template <class Body>
void for_each_value(const Layout& l, std::int64_t c0, std::int64_t c1, Body body) {
  for (std::int64_t n = 0; n < l.N; ++n) {
    if (l.S == 1) {
      const std::int64_t row = n * l.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) body(c, row + c);
      continue;
    }
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t base = l.at(n, c);
#pragma omp simd
      for (std::int64_t s = 0; s < l.S; ++s) body(c, base + s);
    }
  }
}

// Runs block(c0, c1) over every channel, in parallel chunks cut into blocks of
// at most kChannelBlock channels.
template <class Block>
void over_channel_blocks(const Layout& l, Block block) {
  parallel_for(0, l.C, channel_grain(l), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c0 = begin; c0 < end; c0 += kChannelBlock) block(c0, std::min(end, c0 + kChannelBlock));
  });
}

template <class T>
void batch_norm_kernel(const BatchNormForward& a) {
  using Cm = compute_t<T>;  // also the statistics type
  const Layout l{a.x.shape()[0], a.x.shape()[1], a.x.shape()[2]};
  const T* x = a.x.data<T>();
  T* y = a.y.data<T>();
  const T* w = a.weight.defined() ? a.weight.data<T>() : nullptr;
  const T* bias = a.bias.defined() ? a.bias.data<T>() : nullptr;
  T* rmean = a.running_mean.defined() ? a.running_mean.data<T>() : nullptr;
  T* rvar = a.running_var.defined() ? a.running_var.data<T>() : nullptr;
  Cm* mean_out = a.mean.data<Cm>();
  Cm* rstd_out = a.rstd.data<Cm>();
  const double count = static_cast<double>(l.N * l.S);
  over_channel_blocks(l, [&](std::int64_t c0, std::int64_t c1) {
    double mean[kChannelBlock], rstd[kChannelBlock];
    if (a.batch_stats) {
      double shift[kChannelBlock], s1[kChannelBlock], s2[kChannelBlock];
      for (std::int64_t c = c0; c < c1; ++c) shift[c - c0] = static_cast<double>(load(x[l.at(0, c)]));
      channel_sums(
          l, c0, c1,
          [&](std::int64_t c, std::int64_t i, double& t1, double& t2) {
            const double d = static_cast<double>(load(x[i])) - shift[c - c0];
            t1 += d;
            t2 += d * d;
          },
          s1, s2);
      for (std::int64_t k = 0; k < c1 - c0; ++k) {
        const double m = s1[k] / count;
        const double var = std::max(0.0, s2[k] / count - m * m);  // biased
        mean[k] = shift[k] + m;
        rstd[k] = 1.0 / std::sqrt(var + a.eps);
        if (a.update_running) {
          const std::int64_t c = c0 + k;
          const double unbiased = var * count / (count - 1.0);
          rmean[c] = convert<T>(a.momentum * mean[k] + (1.0 - a.momentum) * static_cast<double>(load(rmean[c])));
          rvar[c] = convert<T>(a.momentum * unbiased + (1.0 - a.momentum) * static_cast<double>(load(rvar[c])));
        }
      }
    } else {
      for (std::int64_t c = c0; c < c1; ++c) {
        mean[c - c0] = static_cast<double>(load(rmean[c]));
        rstd[c - c0] = 1.0 / std::sqrt(static_cast<double>(load(rvar[c])) + a.eps);
      }
    }
    // y = (x - mean)·scale + shift with scale = weight·rstd. Folding the mean
    // into the shift (x·scale + (bias - mean·scale)) would save a subtraction
    // but cancel badly when the mean is large against the spread.
    Cm centre[kChannelBlock], scale[kChannelBlock], shift[kChannelBlock];
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t k = c - c0;
      centre[k] = static_cast<Cm>(mean[k]);
      scale[k] = static_cast<Cm>((w ? static_cast<double>(load(w[c])) : 1.0) * rstd[k]);
      shift[k] = bias ? load(bias[c]) : Cm(0);
      mean_out[c] = centre[k];
      rstd_out[c] = static_cast<Cm>(rstd[k]);
    }
    for_each_value(l, c0, c1, [&](std::int64_t c, std::int64_t i) {
      y[i] = convert<T>((load(x[i]) - centre[c - c0]) * scale[c - c0] + shift[c - c0]);
    });
  });
}

template <class T>
void batch_norm_backward_kernel(const BatchNormBackward& a) {
  using Cm = compute_t<T>;
  const Layout l{a.x.shape()[0], a.x.shape()[1], a.x.shape()[2]};
  const T* dy = a.dy.data<T>();
  const T* x = a.x.data<T>();
  const T* w = a.weight.defined() ? a.weight.data<T>() : nullptr;
  const Cm* mean = a.mean.data<Cm>();
  const Cm* rstd = a.rstd.data<Cm>();
  T* dx = a.dx.defined() ? a.dx.data<T>() : nullptr;
  T* dw = a.dweight.defined() ? a.dweight.data<T>() : nullptr;
  T* db = a.dbias.defined() ? a.dbias.data<T>() : nullptr;
  const double count = static_cast<double>(l.N * l.S);
  over_channel_blocks(l, [&](std::int64_t c0, std::int64_t c1) {
    // Σdy and Σdy·(x - mean); only eval-mode dx can go without them.
    double sum_dy[kChannelBlock] = {}, sum_dy_xc[kChannelBlock] = {};
    const bool need_sums = dw != nullptr || db != nullptr || (dx != nullptr && a.batch_stats);
    if (need_sums) {
      channel_sums(
          l, c0, c1,
          [&](std::int64_t c, std::int64_t i, double& t1, double& t2) {
            const double g = static_cast<double>(load(dy[i]));
            t1 += g;
            t2 += g * (static_cast<double>(load(x[i])) - static_cast<double>(mean[c]));
          },
          sum_dy, sum_dy_xc);
    }
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t k = c - c0;
      if (dw) dw[c] = convert<T>(sum_dy_xc[k] * static_cast<double>(rstd[c]));
      if (db) db[c] = convert<T>(sum_dy[k]);
    }
    if (dx == nullptr) return;
    // dx = k·(dy - a - (x - mean)·b): k = weight·rstd; with batch statistics
    // a = Σdy/M and b = rstd²·Σdy·(x - mean)/M, else a = b = 0.
    Cm kk[kChannelBlock], aa[kChannelBlock], bb[kChannelBlock], mm[kChannelBlock];
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t j = c - c0;
      const double r = static_cast<double>(rstd[c]);
      kk[j] = static_cast<Cm>((w ? static_cast<double>(load(w[c])) : 1.0) * r);
      aa[j] = a.batch_stats ? static_cast<Cm>(sum_dy[j] / count) : Cm(0);
      bb[j] = a.batch_stats ? static_cast<Cm>(r * r * sum_dy_xc[j] / count) : Cm(0);
      mm[j] = mean[c];
    }
    for_each_value(l, c0, c1, [&](std::int64_t c, std::int64_t i) {
      const std::int64_t j = c - c0;
      dx[i] = convert<T>(kk[j] * (load(dy[i]) - aa[j] - (load(x[i]) - mm[j]) * bb[j]));
    });
  });
}

}  // namespace

void register_batch_norm_kernels() {
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    batch_norm_kernels().set(DeviceKind::cpu, dtype_v<T>, &batch_norm_kernel<T>);
    batch_norm_backward_kernels().set(DeviceKind::cpu, dtype_v<T>, &batch_norm_backward_kernel<T>);
  });
}

}  // namespace kiln::cpu
