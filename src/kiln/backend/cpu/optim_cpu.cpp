// CPU kernels for the optimizers' fused updates, the sum of squares behind
// clip_grad_norm_ and the in-place clamp behind clip_grad_value_
// (signatures and operation order in ops/optim_kernels.h).
#include <bit>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/optim_kernels.h"

namespace kiln::cpu {

namespace {

// Elements per task: an update streams four to seven arrays, so below this
// many elements a second thread costs more than it saves.
constexpr std::int64_t kUpdateGrain = std::int64_t{1} << 14;
// Elements per strip in for_each_strip_with_sqrt: a strip's state stays in L1
// between the strip's loops, so memory is still crossed once.
constexpr std::int64_t kStrip = 256;

// Calls f(std::bool_constant<b0>, std::bool_constant<b1>, ...) for runtime
// flags, so each combination of options gets its own branch-free loop.
template <class F>
void with_flags(F&& f) {
  f();
}
template <class F, class... Rest>
void with_flags(F&& f, bool flag, Rest... rest) {
  if (flag) {
    with_flags([&](auto... more) { f(std::true_type{}, more...); }, rest...);
  } else {
    with_flags([&](auto... more) { f(std::false_type{}, more...); }, rest...);
  }
}

// x[j] = √x[j] with the vector square-root instructions (IEEE-exact, like
// std::sqrt). 256-bit: GCC 12's 512-bit sqrt intrinsics trip -Wmaybe-uninitialized
// (GCC bug 105593), and this phase is a small part of an update.
template <class T>
void sqrt_in_place(T* x, std::int64_t n) {
  std::int64_t j = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_sqrt_ps(_mm256_loadu_ps(x + j)));
  } else {
    for (; j + 4 <= n; j += 4) _mm256_storeu_pd(x + j, _mm256_sqrt_pd(_mm256_loadu_pd(x + j)));
  }
#elif defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    for (; j + 4 <= n; j += 4) _mm_storeu_ps(x + j, _mm_sqrt_ps(_mm_loadu_ps(x + j)));
  } else {
    for (; j + 2 <= n; j += 2) _mm_storeu_pd(x + j, _mm_sqrt_pd(_mm_loadu_pd(x + j)));
  }
#endif
  for (; j < n; ++j) x[j] = std::sqrt(x[j]);
}

// Runs an update that needs one square root per element over [0, n), in
// parallel chunks cut into strips:
//   root[j] = before(i)     vectorised: updates the state, returns what to take the root of
//   root = √root            vector square-root instructions
//   after(i, root[j])       vectorised: writes the parameter
// Why not one loop: std::sqrt keeps a libm call (to set errno for negative
// input) unless the build has -fno-math-errno, and that call stops GCC from
// vectorising the whole loop — a 3x slower Adam step on 25M elements.
template <class T, class Before, class After>
void for_each_strip_with_sqrt(std::int64_t n, const Before& before, const After& after) {
  parallel_for(0, n, kUpdateGrain, [&](std::int64_t begin, std::int64_t end) {
    alignas(64) T root[kStrip];
    for (std::int64_t s = begin; s < end; s += kStrip) {
      const std::int64_t len = std::min(kStrip, end - s);
#pragma omp simd
      for (std::int64_t j = 0; j < len; ++j) root[j] = before(s + j);
      sqrt_in_place(root, len);
#pragma omp simd
      for (std::int64_t j = 0; j < len; ++j) after(s + j, root[j]);
    }
  });
}

// bf16(f).bits without a branch, so the update loop around it stays vectorised:
// round to nearest even, NaN kept quiet (the same bits as bf16's constructor).
inline std::uint16_t bf16_bits_branchless(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t rounded = (u + 0x7fffU + ((u >> 16) & 1U)) >> 16;
  const std::uint32_t quiet_nan = (u >> 16) | 0x40U;
  return static_cast<std::uint16_t>((u & 0x7fffffffU) > 0x7f800000U ? quiet_nan : rounded);
}

// NaN-propagating max (torch.maximum).
template <class T>
inline T nan_max(T a, T b) {
  return (a != a || a > b) ? a : b;
}

// ---- SGD ------------------------------------------------------------------------
template <class T>
void sgd_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, const SgdStepArgs& a) {
  T* const p = param.data<T>();
  const T* const g = grad.data<T>();
  T* const buf = a.momentum != 0.0 ? momentum_buffer.data<T>() : nullptr;
  const T wd = static_cast<T>(a.weight_decay), mu = static_cast<T>(a.momentum);
  const T keep = static_cast<T>(1.0 - a.dampening), neg_lr = static_cast<T>(-a.lr);
  with_flags(
      [&](auto decay, auto momentum, auto nesterov, auto first) {
        parallel_for(0, param.numel(), kUpdateGrain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
          for (std::int64_t i = begin; i < end; ++i) {
            T d = g[i];
            if constexpr (decay) d = d + wd * p[i];
            if constexpr (momentum) {
              T b;
              if constexpr (first) {
                b = d;
              } else {
                b = buf[i] * mu + keep * d;
              }
              buf[i] = b;
              if constexpr (nesterov) {
                d = d + mu * b;
              } else {
                d = b;
              }
            }
            p[i] = p[i] + neg_lr * d;
          }
        });
      },
      a.weight_decay != 0.0, buf != nullptr, a.nesterov, a.first_step);
}

// ---- Adam / AdamW -----------------------------------------------------------------
template <class T>
void adam_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                      const Tensor& max_exp_avg_sq, const Tensor& param_bf16, const AdamStepArgs& a) {
  T* const p = param.data<T>();
  // The op layer admits a bf16 copy for f32 parameters only.
  bf16* const p16 = param_bf16.defined() ? param_bf16.data<bf16>() : nullptr;
  const T* const g = grad.data<T>();
  T* const m = exp_avg.data<T>();
  T* const v = exp_avg_sq.data<T>();
  T* const vmax = max_exp_avg_sq.defined() ? max_exp_avg_sq.data<T>() : nullptr;
  const T beta1 = static_cast<T>(a.beta1), one_minus_beta1 = static_cast<T>(1.0 - a.beta1);
  const T beta2 = static_cast<T>(a.beta2), one_minus_beta2 = static_cast<T>(1.0 - a.beta2);
  const T wd = static_cast<T>(a.weight_decay), decay = static_cast<T>(1.0 - a.lr * a.weight_decay);
  const T bc2_sqrt = static_cast<T>(a.bias_correction2_sqrt), eps = static_cast<T>(a.eps);
  const T neg_step_size = static_cast<T>(-(a.lr / a.bias_correction1));
  const T grad_scale = static_cast<T>(a.grad_scale);
  const bool has_decay = a.weight_decay != 0.0;
  with_flags(
      [&](auto l2, auto decoupled, auto amsgrad, auto low_copy) {
        const auto before = [&](std::int64_t i) {
          T gi = g[i] * grad_scale;
          if constexpr (l2) gi = gi + wd * p[i];
          m[i] = m[i] * beta1 + one_minus_beta1 * gi;
          const T vi = v[i] * beta2 + one_minus_beta2 * gi * gi;
          v[i] = vi;
          if constexpr (amsgrad) {
            const T mx = nan_max(vmax[i], vi);
            vmax[i] = mx;
            return mx;
          } else {
            return vi;
          }
        };
        const auto after = [&](std::int64_t i, T root) {
          T pi = p[i];
          if constexpr (decoupled) pi = pi * decay;
          pi = pi + neg_step_size * m[i] / (root / bc2_sqrt + eps);
          p[i] = pi;
          if constexpr (low_copy) p16[i].bits = bf16_bits_branchless(static_cast<float>(pi));
        };
        for_each_strip_with_sqrt<T>(param.numel(), before, after);
      },
      has_decay && !a.decoupled_weight_decay, has_decay && a.decoupled_weight_decay, vmax != nullptr,
      p16 != nullptr);
}

// ---- RMSprop ------------------------------------------------------------------------
template <class T>
void rmsprop_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                         const Tensor& momentum_buffer, const RmspropStepArgs& a) {
  T* const p = param.data<T>();
  const T* const g = grad.data<T>();
  T* const sq = square_avg.data<T>();
  T* const ga = a.centered ? grad_avg.data<T>() : nullptr;
  T* const buf = a.momentum > 0.0 ? momentum_buffer.data<T>() : nullptr;
  const T alpha = static_cast<T>(a.alpha), one_minus_alpha = static_cast<T>(1.0 - a.alpha);
  const T wd = static_cast<T>(a.weight_decay), eps = static_cast<T>(a.eps);
  const T mu = static_cast<T>(a.momentum), neg_lr = static_cast<T>(-a.lr);
  with_flags(
      [&](auto decay, auto centered, auto momentum) {
        // The decayed gradient is recomputed in `after` (the same rounding) rather than kept.
        const auto decayed_grad = [&](std::int64_t i) {
          if constexpr (decay) {
            return g[i] + wd * p[i];
          } else {
            return g[i];
          }
        };
        const auto before = [&](std::int64_t i) {
          const T gi = decayed_grad(i);
          const T s = sq[i] * alpha + one_minus_alpha * gi * gi;
          sq[i] = s;
          if constexpr (centered) {
            const T avg = ga[i] * alpha + one_minus_alpha * gi;
            ga[i] = avg;
            return s - avg * avg;  // negative by rounding gives NaN, as in torch
          } else {
            return s;
          }
        };
        const auto after = [&](std::int64_t i, T root) {
          const T gi = decayed_grad(i);
          const T avg = root + eps;
          if constexpr (momentum) {
            const T b = buf[i] * mu + gi / avg;
            buf[i] = b;
            p[i] = p[i] + neg_lr * b;
          } else {
            p[i] = p[i] + neg_lr * gi / avg;
          }
        };
        for_each_strip_with_sqrt<T>(param.numel(), before, after);
      },
      a.weight_decay != 0.0, ga != nullptr, buf != nullptr);
}

// ---- Adagrad ----------------------------------------------------------------------
template <class T>
void adagrad_step_kernel(const Tensor& param, const Tensor& grad, const Tensor& sum, const AdagradStepArgs& a) {
  T* const p = param.data<T>();
  const T* const g = grad.data<T>();
  T* const acc = sum.data<T>();
  const T wd = static_cast<T>(a.weight_decay), eps = static_cast<T>(a.eps), neg_clr = static_cast<T>(-a.clr);
  with_flags(
      [&](auto decay) {
        const auto decayed_grad = [&](std::int64_t i) {
          if constexpr (decay) {
            return g[i] + wd * p[i];
          } else {
            return g[i];
          }
        };
        const auto before = [&](std::int64_t i) {
          const T gi = decayed_grad(i);
          const T s = acc[i] + gi * gi;
          acc[i] = s;
          return s;
        };
        const auto after = [&](std::int64_t i, T root) { p[i] = p[i] + neg_clr * decayed_grad(i) / (root + eps); };
        for_each_strip_with_sqrt<T>(param.numel(), before, after);
      },
      a.weight_decay != 0.0);
}

// ---- clipping ---------------------------------------------------------------------
// Σ x² of one block in f64 with 16 independent lanes, so the loop vectorises
// and the order (hence the rounding) is fixed.
template <class T>
double block_sum_squares(const T* x, std::int64_t n) {
  constexpr int kLanes = 16;
  double lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) {
      const auto v = static_cast<double>(load(x[i + l]));
      lanes[l] += v * v;
    }
  }
  double total = 0.0;
  for (const double l : lanes) total += l;
  for (; i < n; ++i) {
    const auto v = static_cast<double>(load(x[i]));
    total += v * v;
  }
  return total;
}

template <class T>
void sum_squares_kernel(const Tensor& x, const Tensor& acc) {
  // Fixed blocks combined in block order: the same sum for any thread count.
  constexpr std::int64_t kBlock = std::int64_t{1} << 16;
  const T* const xs = x.data<T>();
  const std::int64_t n = x.numel();
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks), 0.0);
  parallel_for(0, blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t lo = b * kBlock;
      partial[static_cast<std::size_t>(b)] = block_sum_squares(xs + lo, std::min(kBlock, n - lo));
    }
  });
  double total = 0.0;
  for (const double s : partial) total += s;
  *acc.data<double>() += total;
}

template <class T>
void clamp_kernel(const Tensor& x, double lo, double hi) {
  using C = compute_t<T>;
  T* const xs = x.data<T>();
  const C low = static_cast<C>(lo), high = static_cast<C>(hi);
  parallel_for(0, x.numel(), kUpdateGrain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      const C v = load(xs[i]);
      xs[i] = convert<T>(v < low ? low : (v > high ? high : v));  // NaN fails both tests and stays
    }
  });
}

}  // namespace

void register_optim_kernels() {
  const auto fused = [](auto t) {
    using T = decltype(t);
    sgd_step_kernels().set(DeviceKind::cpu, dtype_v<T>, sgd_step_kernel<T>);
    adam_step_kernels().set(DeviceKind::cpu, dtype_v<T>, adam_step_kernel<T>);
    rmsprop_step_kernels().set(DeviceKind::cpu, dtype_v<T>, rmsprop_step_kernel<T>);
    adagrad_step_kernels().set(DeviceKind::cpu, dtype_v<T>, adagrad_step_kernel<T>);
  };
  // Fused updates for f32 and f64 parameters; bf16/f16 parameters (with f32
  // state) are not registered, so optimizers reject them by name.
  fused(float{});
  fused(double{});
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    sum_squares_kernels().set(DeviceKind::cpu, dtype_v<T>, sum_squares_kernel<T>);
    clamp_kernels().set(DeviceKind::cpu, dtype_v<T>, clamp_kernel<T>);
  });
}

}  // namespace kiln::cpu
