#include "kiln/ops/lm_head_loss.h"

#include <algorithm>
#include <string>

#include "kiln/ops/autocast.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

KernelTable<SoftmaxXentRowsKernel>& softmax_xent_rows_kernels() {
  static KernelTable<SoftmaxXentRowsKernel> table("lm_head_cross_entropy");
  return table;
}

KernelTable<CheckTargetsKernel>& check_targets_kernels() {
  static KernelTable<CheckTargetsKernel> table("lm_head_cross_entropy (target check)");
  return table;
}

namespace {

const char* const kOp = "lm_head_cross_entropy";

void check_operands(const Tensor& hidden, const Tensor& weight, const Tensor& target) {
  if (!hidden.defined() || !weight.defined() || !target.defined()) {
    throw Error(std::string(kOp) + ": undefined hidden, weight or target");
  }
  const std::string shapes = " (hidden " + hidden.str() + ", weight " + weight.str() + ", target " + target.str() + ")";
  if (hidden.dim() != 2 || weight.dim() != 2 || target.dim() != 1) {
    throw Error(std::string(kOp) + ": needs hidden [N, C], weight [V, C] and target [N]" + shapes);
  }
  if (hidden.size(1) != weight.size(1) || hidden.size(0) != target.size(0)) {
    throw Error(std::string(kOp) + ": sizes disagree" + shapes);
  }
  if (!is_floating(hidden.dtype()) || hidden.dtype() != weight.dtype()) {
    throw Error(std::string(kOp) + ": hidden and weight must share one floating dtype" + shapes);
  }
  if (target.dtype() != DType::i64) throw Error(std::string(kOp) + ": target must be i64" + shapes);
  if (hidden.device() != weight.device() || hidden.device() != target.device()) {
    throw Error(std::string(kOp) + ": operands on different devices" + shapes);
  }
}

// [rows, cols] → [1, rows, cols], the GEMM kernel's batched form (a view).
Tensor batch1(const Tensor& x) { return x.unsqueeze(0); }

}  // namespace

Tensor lm_head_cross_entropy(const Tensor& hidden_in, const Tensor& weight, const Tensor& target_in,
                             const LmHeadLossOptions& options) {
  check_operands(hidden_in, weight, target_in);
  const std::int64_t N = hidden_in.size(0), C = hidden_in.size(1), V = weight.size(0);
  const DType dt = hidden_in.dtype();
  const Device dev = hidden_in.device();
  const DType acc = dt == DType::f64 ? DType::f64 : DType::f32;
  const bool want_grad = needs_grad({&hidden_in, &weight});

  Tensor loss_sum, denom, dh, dW;
  {
    NoGradGuard no_grad;
    const Tensor hidden = hidden_in.contiguous();
    const Tensor target = target_in.contiguous();
    Tensor count = Tensor::empty({1}, DType::i64, dev);
    check_targets_kernels().get(dev, DType::i64)(target, V, options.ignore_index, count);

    // About 128 MiB of logits per chunk: each chunk's dW GEMM re-reads and
    // re-writes all of dW [V, C], so fewer, taller chunks save that traffic,
    // while 128 MiB stays far below the B·T·V logits of a long-context batch.
    const std::int64_t auto_rows =
        std::max<std::int64_t>(1, (std::int64_t{128} << 20) / (V * static_cast<std::int64_t>(dtype_size(dt))));
    const std::int64_t chunk = std::min(std::max<std::int64_t>(1, options.chunk_rows > 0 ? options.chunk_rows : auto_rows),
                                        std::max<std::int64_t>(N, 1));
    // bf16 autocast: the GEMMs read bf16 copies of h and W and write f32; the
    // softmax and the loss stay f32.
    const auto low = autocast_dtype();
    const DType gemm_dt = (low && dt == DType::f32) ? *low : dt;
    const Tensor h_in = gemm_dt == dt ? hidden : cast(hidden, gemm_dt);
    const Tensor w_in = gemm_dt == dt ? weight : autocast_weight(weight, gemm_dt);
    Tensor logits = Tensor::empty({chunk, V}, dt, dev);
    Tensor logits_low = gemm_dt == dt ? Tensor() : Tensor::empty({chunk, V}, gemm_dt, dev);
    Tensor loss_rows = Tensor::empty({N}, acc, dev);
    if (want_grad) {
      dh = Tensor::empty({N, C}, dt, dev);
      dW = N > 0 ? Tensor::empty({V, C}, dt, dev) : Tensor::zeros({V, C}, dt, dev);
    }
    auto* gemm = matmul_kernels().get(dev, gemm_dt);
    auto* xent = softmax_xent_rows_kernels().get(dev, dt);
    auto* copy = copy_kernels().get(dev, gemm_dt);
    const Tensor w_t = batch1(w_in.t());  // [1, C, V], read transposed in place
    const Tensor w = batch1(w_in);        // [1, V, C]
    for (std::int64_t r0 = 0; r0 < N; r0 += chunk) {
      const std::int64_t n = std::min(chunk, N - r0);
      const Tensor h = h_in.slice(0, r0, r0 + n);
      const Tensor lg = logits.slice(0, 0, n);
      gemm(batch1(h), w_t, batch1(lg), false);                      // logits = h · Wᵀ
      xent(lg, target.slice(0, r0, r0 + n), options.ignore_index, want_grad, loss_rows.slice(0, r0, r0 + n));
      if (want_grad) {
        Tensor dl = lg;
        if (logits_low.defined()) {
          dl = logits_low.slice(0, 0, n);
          copy(lg, dl);
        }
        gemm(batch1(dl), w, batch1(dh.slice(0, r0, r0 + n)), false);  // dh = dlogits · W
        gemm(batch1(dl.t()), batch1(h), batch1(dW), r0 > 0);          // dW (+)= dlogitsᵀ · h
      }
    }
    loss_sum = sum(loss_rows);
    // The mean over counted rows; with none counted the sum is 0 and so is the loss.
    denom = maximum(cast(count, acc).reshape({}), Tensor::scalar(1.0, acc, dev));
  }
  Tensor loss;
  {
    NoGradGuard no_grad;
    loss = div(loss_sum, denom);
  }
  if (!want_grad) return loss;
  return record(loss, kOp, {hidden_in, weight}, [dh, dW, denom, dt](const Tensor& g) {
    const Tensor scale = cast(div(cast(g, denom.dtype()), denom), dt);
    return std::vector<Tensor>{mul(dh, scale), mul(dW, scale)};
  });
}

}  // namespace kiln
