// CPU kernels of the fused losses (ops/loss_kernels.h). Pointwise losses walk
// their operands with the strided loop (any strides, broadcast weights);
// row-wise ones (cross-entropy, Gaussian KL) run one parallel_for over rows
// with the f64 lane sums of row_sums.h. 16-bit types compute in f32.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/row_sums.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/backend/cpu/strided_loop.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/loss_kernels.h"

namespace kiln::cpu {

namespace {

constexpr std::int64_t kGrainElements = 16384;

std::int64_t row_grain(std::int64_t n) {
  return std::max<std::int64_t>(1, kGrainElements / std::max<std::int64_t>(n, 1));
}

// out[i] = f(in_0[i], in_1[i], ...) in compute_t<T> over operands of one shape
// with any strides; a dense run gets a contiguous, vectorisable loop.
template <class T, class F, std::size_t... K>
void map_run(const std::array<char*, sizeof...(K) + 1>& p, const std::array<std::int64_t, sizeof...(K) + 1>& st,
             std::int64_t n, const F& f, std::index_sequence<K...> /*inputs*/) {
  bool dense = st[0] == sizeof(T);
  ((dense = dense && st[K + 1] == sizeof(T)), ...);
  T* out = reinterpret_cast<T*>(p[0]);
  if (dense) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = convert<T>(f(load(reinterpret_cast<const T*>(p[K + 1])[i])...));
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    *reinterpret_cast<T*>(p[0] + i * st[0]) =
        convert<T>(f(load(*reinterpret_cast<const T*>(p[K + 1] + i * st[K + 1]))...));
  }
}

template <class T, class F, class... In>
void map_elements(const Tensor& out, const F& f, const In&... in) {
  constexpr std::size_t N = sizeof...(In) + 1;
  const auto plan = make_plan<N>({&out, &in...});
  for_each_strided(plan, [&](const std::array<char*, N>& p, const std::array<std::int64_t, N>& st, std::int64_t n) {
    map_run<T>(p, st, n, f, std::make_index_sequence<N - 1>{});
  });
}

template <class C>
C sign_of(C d) {
  return d > C(0) ? C(1) : (d < C(0) ? C(-1) : C(0));
}

// ---- regression --------------------------------------------------------------------
// input, target, out: one shape, any strides. out = loss(input - target).
template <class T>
void regression_loss_kernel(RegressionLoss kind, double param, const Tensor& input, const Tensor& target,
                            const Tensor& out) {
  using C = compute_t<T>;
  const C k = static_cast<C>(param);
  switch (kind) {
    case RegressionLoss::l1:
      return map_elements<T>(
          out, [](C x, C t) { return std::fabs(x - t); }, input, target);
    case RegressionLoss::smooth_l1:
      return map_elements<T>(
          out,
          [k](C x, C t) {
            const C a = std::fabs(x - t);
            return a < k ? C(0.5) * a * a / k : a - C(0.5) * k;
          },
          input, target);
    case RegressionLoss::huber:
      return map_elements<T>(
          out,
          [k](C x, C t) {
            const C a = std::fabs(x - t);
            return a <= k ? C(0.5) * a * a : k * (a - C(0.5) * k);
          },
          input, target);
  }
}

// grad, input, target, dinput: one shape, any strides. dinput = grad·loss'(input - target).
template <class T>
void regression_loss_backward_kernel(RegressionLoss kind, double param, const Tensor& grad, const Tensor& input,
                                     const Tensor& target, const Tensor& dinput) {
  using C = compute_t<T>;
  const C k = static_cast<C>(param);
  switch (kind) {
    case RegressionLoss::l1:
      return map_elements<T>(
          dinput, [](C g, C x, C t) { return g * sign_of(x - t); }, grad, input, target);
    case RegressionLoss::smooth_l1:
      // beta = 0 is l1 (d/beta would be 0/0 at d = 0).
      return map_elements<T>(
          dinput,
          [k](C g, C x, C t) {
            const C d = x - t;
            return g * (d < -k ? C(-1) : (d > k ? C(1) : (k > C(0) ? d / k : C(0))));
          },
          grad, input, target);
    case RegressionLoss::huber:
      return map_elements<T>(
          dinput,
          [k](C g, C x, C t) {
            const C d = x - t;
            return g * (d < -k ? -k : (d > k ? k : d));
          },
          grad, input, target);
  }
}

// ---- binary cross-entropy ------------------------------------------------------------
// torch clamps the logs at -100 so that p = 0 or 1 gives a finite loss; the
// comparison is written so that a NaN passes through (NaN < -100 is false).
template <class C>
C clamped_log(C v) {
  const C l = std::log(v);
  return l < C(-100) ? C(-100) : l;
}

// softplus(-x) = log(1 + e^{-x}) = max(-x, 0) + log1p(e^{-|x|}), finite for any x.
template <class C>
C softplus_neg(C x) {
  return (x < C(0) ? -x : C(0)) + std::log1p(exp_c(-std::fabs(x)));
}

// input, target, weight, pos_weight, out: one shape, any strides.
template <class T>
void binary_loss_kernel(BinaryLoss kind, const Tensor& input, const Tensor& target, const Tensor& weight,
                        const Tensor& pos_weight, const Tensor& out) {
  using C = compute_t<T>;
  if (kind == BinaryLoss::probabilities) {
    return map_elements<T>(
        out, [](C p, C t, C w) { return w * ((t - C(1)) * clamped_log(C(1) - p) - t * clamped_log(p)); }, input, target,
        weight);
  }
  map_elements<T>(
      out, [](C x, C t, C w, C pw) { return w * ((C(1) - t) * x + (C(1) + (pw - C(1)) * t) * softplus_neg(x)); }, input,
      target, weight, pos_weight);
}

// As the forward plus grad; out = grad·∂loss/∂wrt (formulas in ops/loss_kernels.h).
template <class T>
void binary_loss_backward_kernel(BinaryLoss kind, LossOperand wrt, const Tensor& grad, const Tensor& input,
                                 const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                                 const Tensor& out) {
  using C = compute_t<T>;
  constexpr C kEps = C(1e-12F);  // torch's floor on p·(1-p), a float constant there too
  if (kind == BinaryLoss::probabilities) {
    if (wrt == LossOperand::input) {
      return map_elements<T>(
          out,
          [](C g, C p, C t, C w) {
            const C v = p * (C(1) - p);
            return g * w * (p - t) / (v > kEps ? v : kEps);
          },
          grad, input, target, weight);
    }
    return map_elements<T>(
        out, [](C g, C p, C w) { return g * w * (clamped_log(C(1) - p) - clamped_log(p)); }, grad, input, weight);
  }
  if (wrt == LossOperand::input) {
    return map_elements<T>(
        out,
        [](C g, C x, C t, C w, C pw) {
          const C sigmoid_neg = C(1) / (C(1) + exp_c(x));  // σ(-x)
          return g * w * ((C(1) - t) - (C(1) + (pw - C(1)) * t) * sigmoid_neg);
        },
        grad, input, target, weight, pos_weight);
  }
  map_elements<T>(
      out, [](C g, C x, C w, C pw) { return g * w * ((pw - C(1)) * softplus_neg(x) - x); }, grad, input, weight,
      pos_weight);
}

// ---- cross-entropy rows ----------------------------------------------------------------
// The smoothed target of one row: q_c = (1-ε)·onehot_c + ε/C or (1-ε)·probs_c + ε/C.
// kWeighted is a template parameter so the inner loops carry no per-element
// branch on whether weights exist, and vectorise.

// w_c, or 1 without weights.
template <bool kWeighted, class T>
compute_t<T> class_weight(const T* wp, std::int64_t c) {
  if constexpr (kWeighted) {
    return load(wp[c]);
  } else {
    (void)wp;
    (void)c;
    return compute_t<T>(1);
  }
}

// logits [R, C]; loss, lse [R] and row_weight [R] (index targets only) in compute_t<T>.
template <class T, bool kWeighted>
void cross_entropy_rows_impl(const CrossEntropyRows& rows, const Tensor& loss, const Tensor& lse,
                             const Tensor& row_weight) {
  using C = compute_t<T>;
  const std::int64_t r_count = rows.logits.shape()[0], n = rows.logits.shape()[1];
  const T* xp = rows.logits.data<T>();
  const std::int64_t* tp = rows.target_index.defined() ? rows.target_index.data<std::int64_t>() : nullptr;
  const T* qp = rows.target_probs.defined() ? rows.target_probs.data<T>() : nullptr;
  const T* wp = kWeighted ? rows.weight.data<T>() : nullptr;
  C* lp = loss.data<C>();
  C* sp = lse.data<C>();
  C* rwp = row_weight.defined() ? row_weight.data<C>() : nullptr;
  const double eps = rows.label_smoothing;
  const double uniform = eps / static_cast<double>(n);
  const std::int64_t ignore = rows.ignore_index;
  parallel_for(0, r_count, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* x = xp + r * n;
      if (tp != nullptr && tp[r] == ignore) {
        lp[r] = sp[r] = C(0);
        if (rwp != nullptr) rwp[r] = C(0);
        continue;
      }
      const double l = row_log_sum_exp(x, n);
      double value = 0.0;
      if (tp != nullptr) {
        const std::int64_t t = tp[r];
        const double wt = class_weight<kWeighted>(wp, t);
        value = (1.0 - eps) * wt * (l - static_cast<double>(load(x[t])));
        if (eps > 0.0) {
          value += uniform * lane_sum(n, [wp, x, l](std::int64_t c) {
                     return class_weight<kWeighted>(wp, c) * (l - static_cast<double>(load(x[c])));
                   });
        }
        if (rwp != nullptr) rwp[r] = static_cast<C>(wt);
      } else {
        const T* q = qp + r * n;
        value = lane_sum(n, [wp, q, x, l, eps, uniform](std::int64_t c) {
          const double qc = (1.0 - eps) * static_cast<double>(load(q[c])) + uniform;
          return class_weight<kWeighted>(wp, c) * qc * (l - static_cast<double>(load(x[c])));
        });
      }
      lp[r] = static_cast<C>(value);
      sp[r] = static_cast<C>(l);
    }
  });
}

template <class T>
void cross_entropy_rows_kernel(const CrossEntropyRows& rows, const Tensor& loss, const Tensor& lse,
                               const Tensor& row_weight) {
  if (rows.weight.defined()) return cross_entropy_rows_impl<T, true>(rows, loss, lse, row_weight);
  cross_entropy_rows_impl<T, false>(rows, loss, lse, row_weight);
}

// One row's gradient, d = g·(s·exp(x - lse) - w·q) with q the smoothed target:
// a plain function of pointers and scalars, so its loops vectorise.
template <bool kWeighted, class T>
void cross_entropy_row_backward(const T* x, const T* q, const T* wp, T* d, std::int64_t n, compute_t<T> g,
                                compute_t<T> lse, compute_t<T> s, compute_t<T> keep, compute_t<T> uniform) {
  using C = compute_t<T>;
  if (q == nullptr) {  // one-hot target: the caller corrects the target's entry
#pragma omp simd
    for (std::int64_t c = 0; c < n; ++c) {
      d[c] = convert<T>(g * (s * exp_c(load(x[c]) - lse) - class_weight<kWeighted>(wp, c) * uniform));
    }
    return;
  }
#pragma omp simd
  for (std::int64_t c = 0; c < n; ++c) {
    const C wq = class_weight<kWeighted>(wp, c) * (keep * load(q[c]) + uniform);
    d[c] = convert<T>(g * (s * exp_c(load(x[c]) - lse) - wq));
  }
}

// dlogits [R, C] = g_r·(s_r·softmax(x_r) - w·q_r), s_r = Σ_c w_c·q_rc;
// dtarget [R, C] = g_r·(1-ε)·w·(lse_r - x_r) when defined (probability targets).
template <class T, bool kWeighted>
void cross_entropy_rows_backward_impl(const CrossEntropyRows& rows, const Tensor& lse, const Tensor& grad_row,
                                      const Tensor& dlogits, const Tensor& dtarget) {
  using C = compute_t<T>;
  const std::int64_t r_count = rows.logits.shape()[0], n = rows.logits.shape()[1];
  const T* xp = rows.logits.data<T>();
  const std::int64_t* tp = rows.target_index.defined() ? rows.target_index.data<std::int64_t>() : nullptr;
  const T* qp = rows.target_probs.defined() ? rows.target_probs.data<T>() : nullptr;
  const T* wp = kWeighted ? rows.weight.data<T>() : nullptr;
  const C* sp = lse.data<C>();
  const C* gp = grad_row.data<C>();
  T* dp = dlogits.data<T>();
  T* dqp = dtarget.defined() ? dtarget.data<T>() : nullptr;
  const C keep = static_cast<C>(1.0 - rows.label_smoothing);
  const C uniform = static_cast<C>(rows.label_smoothing / static_cast<double>(n));
  const std::int64_t ignore = rows.ignore_index;
  // Σ_c w_c, for s_r of a smoothed one-hot row: (1-ε)·w_t + ε/C·Σ w.
  const C weight_total = static_cast<C>(lane_sum(n, [wp](std::int64_t c) { return class_weight<kWeighted>(wp, c); }));
  parallel_for(0, r_count, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* x = xp + r * n;
      T* d = dp + r * n;
      const C g = gp[r], l = sp[r];
      if (tp != nullptr) {
        const std::int64_t t = tp[r];
        if (t == ignore) {
          std::fill(d, d + n, convert<T>(0.0));
          continue;
        }
        const C wt = class_weight<kWeighted>(wp, t);
        const C s = keep * wt + uniform * weight_total;
        cross_entropy_row_backward<kWeighted>(x, static_cast<const T*>(nullptr), wp, d, n, g, l, s, keep, uniform);
        d[t] = convert<T>(g * (s * exp_c(load(x[t]) - l) - wt * (uniform + keep)));
        continue;
      }
      const T* q = qp + r * n;
      const C s = static_cast<C>(lane_sum(n, [wp, q, keep, uniform](std::int64_t c) {
        return class_weight<kWeighted>(wp, c) * (keep * load(q[c]) + uniform);
      }));
      cross_entropy_row_backward<kWeighted>(x, q, wp, d, n, g, l, s, keep, uniform);
      if (dqp != nullptr) {
        T* dq = dqp + r * n;
        const C gk = g * keep;
#pragma omp simd
        for (std::int64_t c = 0; c < n; ++c) dq[c] = convert<T>(gk * class_weight<kWeighted>(wp, c) * (l - load(x[c])));
      }
    }
  });
}

template <class T>
void cross_entropy_rows_backward_kernel(const CrossEntropyRows& rows, const Tensor& lse, const Tensor& grad_row,
                                        const Tensor& dlogits, const Tensor& dtarget) {
  if (rows.weight.defined()) return cross_entropy_rows_backward_impl<T, true>(rows, lse, grad_row, dlogits, dtarget);
  cross_entropy_rows_backward_impl<T, false>(rows, lse, grad_row, dlogits, dtarget);
}

// ---- Gaussian KL against N(0, 1) -----------------------------------------------------------
// mean, log_var contiguous [B, D]; kl [B] in compute_t<T>.
template <class T>
void kl_normal_standard_kernel(const Tensor& mean, const Tensor& log_var, const Tensor& kl) {
  using C = compute_t<T>;
  const std::int64_t rows = mean.shape()[0], n = mean.shape()[1];
  const T* mp = mean.data<T>();
  const T* vp = log_var.data<T>();
  C* kp = kl.data<C>();
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* m = mp + r * n;
      const T* v = vp + r * n;
      const double s = lane_sum(n, [m, v](std::int64_t i) {
        const C mi = load(m[i]), vi = load(v[i]);
        return C(1) + vi - mi * mi - exp_c(vi);
      });
      kp[r] = static_cast<C>(-0.5 * s);
    }
  });
}

// grad_row [B] compute_t<T>; dmean = g·mean, dlog_var = g·½·(exp(log_var) - 1), each optional.
template <class T>
void kl_normal_standard_backward_kernel(const Tensor& mean, const Tensor& log_var, const Tensor& grad_row,
                                        const Tensor& dmean, const Tensor& dlog_var) {
  using C = compute_t<T>;
  const std::int64_t rows = mean.shape()[0], n = mean.shape()[1];
  const T* mp = mean.data<T>();
  const T* vp = log_var.data<T>();
  const C* gp = grad_row.data<C>();
  T* dmp = dmean.defined() ? dmean.data<T>() : nullptr;
  T* dvp = dlog_var.defined() ? dlog_var.data<T>() : nullptr;
  parallel_for(0, rows, row_grain(n), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const C g = gp[r];
      if (dmp != nullptr) {
        const T* m = mp + r * n;
        T* d = dmp + r * n;
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert<T>(g * load(m[i]));
      }
      if (dvp != nullptr) {
        const T* v = vp + r * n;
        T* d = dvp + r * n;
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) d[i] = convert<T>(g * C(0.5) * (exp_c(load(v[i])) - C(1)));
      }
    }
  });
}

}  // namespace

void register_loss_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  visit_float_dtypes([&](auto t) {
    using T = decltype(t);
    regression_loss_kernels().set(cpu, dtype_v<T>, &regression_loss_kernel<T>);
    regression_loss_backward_kernels().set(cpu, dtype_v<T>, &regression_loss_backward_kernel<T>);
    binary_loss_kernels().set(cpu, dtype_v<T>, &binary_loss_kernel<T>);
    binary_loss_backward_kernels().set(cpu, dtype_v<T>, &binary_loss_backward_kernel<T>);
    cross_entropy_rows_kernels().set(cpu, dtype_v<T>, &cross_entropy_rows_kernel<T>);
    cross_entropy_rows_backward_kernels().set(cpu, dtype_v<T>, &cross_entropy_rows_backward_kernel<T>);
    kl_normal_standard_kernels().set(cpu, dtype_v<T>, &kl_normal_standard_kernel<T>);
    kl_normal_standard_backward_kernels().set(cpu, dtype_v<T>, &kl_normal_standard_backward_kernel<T>);
  });
}

}  // namespace kiln::cpu
