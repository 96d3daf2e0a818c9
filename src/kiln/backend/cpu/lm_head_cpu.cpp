// CPU kernels of the fused LM head + cross-entropy (ops/lm_head_loss.h).
#include <string>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/row_sums.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/lm_head_loss.h"

namespace kiln::cpu {

namespace {

template <class T>
void softmax_xent_rows(const Tensor& logits, const Tensor& target, std::int64_t ignore_index, bool grad,
                       const Tensor& loss_rows) {
  using C = compute_t<T>;
  using L = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const std::int64_t rows = logits.shape()[0], n = logits.shape()[1];
  T* xp = logits.data<T>();
  const std::int64_t* tp = target.data<std::int64_t>();
  L* lp = loss_rows.data<L>();
  parallel_for(0, rows, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      T* x = xp + r * n;
      const std::int64_t t = tp[r];
      if (t == ignore_index) {
        lp[r] = L(0);
        if (grad) std::fill(x, x + n, T(0));
        continue;
      }
      const double lse = row_log_sum_exp(x, n);
      lp[r] = static_cast<L>(lse - static_cast<double>(load(x[t])));
      if (!grad) continue;
      const C l = static_cast<C>(lse);
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(exp_c(load(x[i]) - l));
      x[t] = static_cast<T>(load(x[t]) - C(1));
    }
  });
}

void check_targets(const Tensor& target, std::int64_t vocab, std::int64_t ignore_index, const Tensor& count) {
  const std::int64_t n = target.shape()[0];
  const std::int64_t* tp = target.data<std::int64_t>();
  std::int64_t counted = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t t = tp[r];
    if (t == ignore_index) continue;
    if (t < 0 || t >= vocab) {
      throw Error("lm_head_cross_entropy: target " + std::to_string(t) + " at row " + std::to_string(r) +
                  " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
    ++counted;
  }
  count.data<std::int64_t>()[0] = counted;
}

}  // namespace

void register_lm_head_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  softmax_xent_rows_kernels().set(cpu, DType::f32, &softmax_xent_rows<float>);
  softmax_xent_rows_kernels().set(cpu, DType::f64, &softmax_xent_rows<double>);
  check_targets_kernels().set(cpu, DType::i64, &check_targets);
}

}  // namespace kiln::cpu
