// Scaled dot-product attention: the fused op (one node whose kernels, in
// ops/attention_kernels.h, never form the Tq×Tk scores), GPT's packed causal
// self-attention on top of it, and the same attention composed from matmul,
// masked_fill and softmax, kept as the reference the fused kernels are tested
// against and as the path for what they do not cover (below).
//
// Masking conventions (both versions):
//  * causal: query i may see key j only when j <= i + (Tk - Tq). With Tq == Tk
//    this is torch's is_causal (the usual lower-triangular mask); with Tq < Tk it
//    is the bottom-right alignment (torch.nn.attention.bias.causal_lower_right),
//    which is what incremental decoding with a key/value cache needs: the Tq
//    queries are the last Tq positions of the Tk-long sequence. (torch's
//    is_causal instead aligns top-left, j <= i, when Tq != Tk.)
//  * key_padding_mask: bool [B, Tk], true = padding; broadcast as [B, 1, 1, Tk]
//    for q [B, H, Tq, d] and as [B, 1, Tk] for q [B, Tq, d].
//  * A query row whose keys are all masked (all padding, or Tq > Tk with causal)
//    has no distribution to take: its output row is defined as zeros, and no
//    gradient flows through it — never NaN (torch's math path gives NaN there).
//
// The fused path takes q, k, v of 3 or 4 dims with equal batch dimensions, in
// any strides; an operand whose last dimension is not unit-stride is copied
// first (the kernels read rows). Other ranks, broadcast batch dimensions, and
// dtypes or devices without a kernel (f16) run the composed version.
#include <cmath>
#include <limits>
#include <string>

#include "kiln/autograd/node.h"
#include "kiln/ops/attention_kernels.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/ops.h"

namespace kiln {

KernelTable<AttentionKernel>& attention_kernels() {
  static KernelTable<AttentionKernel> table("attention");
  return table;
}
KernelTable<AttentionBackwardKernel>& attention_backward_kernels() {
  static KernelTable<AttentionBackwardKernel> table("attention_backward");
  return table;
}

namespace {

const char* const kOp = "scaled_dot_product_attention";

void check_operands(const Tensor& q, const Tensor& k, const Tensor& v) {
  if (!q.defined() || !k.defined() || !v.defined()) throw Error(std::string(kOp) + ": undefined q, k or v");
  const std::string shapes = " (q " + q.str() + ", k " + k.str() + ", v " + v.str() + ")";
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) {
    throw Error(std::string(kOp) + ": q, k and v need at least 2 dims [..., T, d]" + shapes);
  }
  if (!is_floating(q.dtype()) || q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
    throw Error(std::string(kOp) + ": q, k and v must share one floating dtype" + shapes);
  }
  if (q.device() != k.device() || q.device() != v.device()) {
    throw Error(std::string(kOp) + ": q, k and v must be on one device" + shapes);
  }
  if (q.size(-1) != k.size(-1)) throw Error(std::string(kOp) + ": q and k head sizes differ" + shapes);
  if (k.size(-2) != v.size(-2)) throw Error(std::string(kOp) + ": k and v have different lengths" + shapes);
  const Shape bq(q.shape().begin(), q.shape().end() - 2), bk(k.shape().begin(), k.shape().end() - 2),
      bv(v.shape().begin(), v.shape().end() - 2);
  broadcast_shapes(broadcast_shapes(bq, bk, kOp), bv, kOp);
}

// Throws unless mask is bool [B, Tk] on `device`; `operand` names the input it
// was checked against ("q f32[...]").
void check_padding_mask(const char* op, const Tensor& mask, Device device, std::int64_t B, std::int64_t Tk,
                        const std::string& operand) {
  if (mask.dtype() != DType::boolean) {
    throw Error(std::string(op) + ": key_padding_mask must be bool (true = padding), got " + mask.str());
  }
  if (mask.device() != device) {
    throw Error(std::string(op) + ": key_padding_mask on " + mask.device().str() + ", " + operand + " on " +
                device.str());
  }
  if (mask.dim() != 2 || mask.size(0) != B || mask.size(1) != Tk) {
    throw Error(std::string(op) + ": key_padding_mask " + mask.str() + " must be [" + std::to_string(B) + ", " +
                std::to_string(Tk) + "] for " + operand);
  }
}

void check_padding_mask(const Tensor& mask, const Tensor& q, std::int64_t Tk) {
  if (q.dim() != 3 && q.dim() != 4) {
    throw Error(std::string(kOp) + ": key_padding_mask needs q as [B, Tq, d] or [B, H, Tq, d], got " + q.str());
  }
  check_padding_mask(kOp, mask, q.device(), q.size(0), Tk, "q " + q.str());
}

// The padding mask reshaped to broadcast against scores [..., Tq, Tk].
Tensor padding_mask(const Tensor& mask, const Tensor& q, std::int64_t Tk) {
  check_padding_mask(mask, q, Tk);
  const std::int64_t B = q.size(0);
  return q.dim() == 4 ? mask.reshape({B, 1, 1, Tk}) : mask.reshape({B, 1, Tk});
}

}  // namespace

Tensor scaled_dot_product_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                             const Tensor& key_padding_mask, std::optional<double> scale) {
  check_operands(q, k, v);
  const std::int64_t Tq = q.size(-2), Tk = k.size(-2);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  // Scaling q (…×d) is cheaper than scaling the scores (…×Tk).
  Tensor scores = matmul(mul(q, s), k.transpose(-2, -1));  // [..., Tq, Tk]

  // masked: bool, broadcastable to scores; true where a key is hidden from a query.
  Tensor masked;
  if (causal) {
    const Tensor i = Tensor::arange(Tq, DType::i64, q.device()).reshape({Tq, 1});
    const Tensor j = Tensor::arange(Tk, DType::i64, q.device()).reshape({1, Tk});
    masked = gt(j, add(i, static_cast<double>(Tk - Tq)));
  }
  if (key_padding_mask.defined()) {
    const Tensor pad = padding_mask(key_padding_mask, q, Tk);
    masked = masked.defined() ? where(masked, masked, pad) : pad;  // logical or
  }
  if (!masked.defined()) return matmul(softmax(scores, -1), v);

  // Rows with every key masked could only give NaN: leave their scores finite
  // for the softmax, then zero their probabilities (so output and gradient are 0).
  const bool may_have_empty_rows = key_padding_mask.defined() || Tq > Tk;
  Tensor empty_row;
  if (may_have_empty_rows) {
    const Tensor as_int = cast(masked, DType::i32);
    empty_row = eq(min(as_int, {-1}, true), Tensor::scalar(1, DType::i32, q.device()));  // [..., Tq, 1]
    masked = where(empty_row, Tensor::scalar(0, DType::boolean, q.device()), masked);
  }
  scores = masked_fill(scores, masked, -std::numeric_limits<double>::infinity());
  Tensor p = softmax(scores, -1);
  if (may_have_empty_rows) p = masked_fill(p, empty_row, 0.0);
  return matmul(p, v);
}

namespace {

// Log-sum-exp rows are kept in f64 for f64 attention, else in f32.
DType statistics_dtype(DType dtype) { return dtype == DType::f64 ? DType::f64 : DType::f32; }

// t itself when its rows are unit-stride (what the kernels read), else a contiguous copy.
Tensor with_unit_rows(const Tensor& t) { return t.size(-1) <= 1 || t.stride(-1) == 1 ? t : t.contiguous(); }

// Part `part` (q, k or v) of a packed [B, T, parts·C] tensor, split into H heads:
// a strided view [B, H, T, C/H], no copy.
Tensor head_view(const Tensor& packed, std::int64_t part, std::int64_t C, std::int64_t H) {
  const std::int64_t B = packed.size(0), T = packed.size(1);
  return packed.slice(2, part * C, (part + 1) * C).view({B, T, H, C / H}).permute({0, 2, 1, 3});
}

bool fused_kernel_covers(const Tensor& q, const Tensor& k, const Tensor& v) {
  if ((q.dim() != 3 && q.dim() != 4) || k.dim() != q.dim() || v.dim() != q.dim()) return false;
  for (std::int64_t i = 0; i < q.dim() - 2; ++i) {
    if (k.size(i) != q.size(i) || v.size(i) != q.size(i)) return false;
  }
  return attention_kernels().supports(q.device().kind, q.dtype()) &&
         attention_backward_kernels().supports(q.device().kind, q.dtype());
}

// What the backward kernel needs from the forward, as [B, H, T, ·] views.
struct SavedAttention {
  Tensor q, k, v, key_padding_mask, out, lse;
  bool causal = false;
  double scale = 1.0;
};

// Runs the forward kernel on 4-d views; `out` [B, H, Tq, dv] is written.
SavedAttention run_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                           double scale, const Tensor& out) {
  SavedAttention s{.q = q, .k = k, .v = v, .key_padding_mask = mask, .out = out,
                   .lse = Tensor::empty({q.size(0), q.size(1), q.size(2)}, statistics_dtype(q.dtype()), q.device()),
                   .causal = causal, .scale = scale};
  attention_kernels().get(q.device(), q.dtype())({.q = s.q, .k = s.k, .v = s.v, .key_padding_mask = s.key_padding_mask,
                                                  .causal = causal, .scale = scale, .out = s.out, .lse = s.lse});
  return s;
}

// Runs the backward kernel on 4-d views; dq, dk, dv are written whole.
void run_backward(const SavedAttention& s, const Tensor& grad_out, const Tensor& dq, const Tensor& dk,
                  const Tensor& dv) {
  attention_backward_kernels().get(s.q.device(), s.q.dtype())(
      {.q = s.q, .k = s.k, .v = s.v, .key_padding_mask = s.key_padding_mask, .causal = s.causal, .scale = s.scale,
       .out = s.out, .lse = s.lse, .grad_out = grad_out, .dq = dq, .dk = dk, .dv = dv});
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                    const Tensor& key_padding_mask, std::optional<double> scale) {
  check_operands(q, k, v);
  if (key_padding_mask.defined()) check_padding_mask(key_padding_mask, q, k.size(-2));
  if (!fused_kernel_covers(q, k, v)) {
    return scaled_dot_product_attention_composed(q, k, v, causal, key_padding_mask, scale);
  }

  const bool three_d = q.dim() == 3;
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  Shape out_shape = q.shape();
  out_shape.back() = v.size(-1);
  const Tensor out = Tensor::empty(out_shape, q.dtype(), q.device());
  SavedAttention saved;
  {
    NoGradGuard no_grad;  // the views below are the kernel's operands, not graph nodes
    const auto as4 = [three_d](const Tensor& t) {
      const Tensor rows = with_unit_rows(t.detach());
      return three_d ? rows.unsqueeze(1) : rows;
    };
    const Tensor mask = key_padding_mask.defined() ? key_padding_mask.contiguous() : Tensor();
    saved = run_forward(as4(q), as4(k), as4(v), mask, causal, s, as4(out));
  }
  return record(out, kOp, {q, k, v}, [saved, three_d](const Tensor& grad) {
    const auto as4 = [three_d](const Tensor& t) { return three_d ? t.unsqueeze(1) : t; };
    const Tensor dq = Tensor::empty(saved.q.shape(), saved.q.dtype(), saved.q.device());
    const Tensor dk = Tensor::empty(saved.k.shape(), saved.k.dtype(), saved.k.device());
    const Tensor dv = Tensor::empty(saved.v.shape(), saved.v.dtype(), saved.v.device());
    run_backward(saved, as4(with_unit_rows(grad)), dq, dk, dv);
    if (!three_d) return std::vector<Tensor>{dq, dk, dv};
    return std::vector<Tensor>{dq.squeeze(1), dk.squeeze(1), dv.squeeze(1)};
  });
}

Tensor causal_self_attention_qkv(const Tensor& qkv, std::int64_t heads, const Tensor& key_padding_mask) {
  // bf16 autocast: attention runs on a bf16 copy of the projection and returns bf16.
  if (const auto low = autocast_dtype(); low && qkv.defined() && qkv.dtype() == DType::f32 &&
                                         attention_kernels().supports(qkv.device().kind, *low)) {
    return causal_self_attention_qkv(cast(qkv, *low), heads, key_padding_mask);
  }
  const char* op = "causal_self_attention_qkv";
  if (!qkv.defined()) throw Error(std::string(op) + ": qkv is undefined");
  if (qkv.dim() != 3 || !is_floating(qkv.dtype())) {
    throw Error(std::string(op) + ": qkv must be a floating [B, T, 3C] tensor (q | k | v along the last dim), got " +
                qkv.str());
  }
  if (heads < 1 || qkv.size(2) % (3 * heads) != 0) {
    throw Error(std::string(op) + ": qkv " + qkv.str() + " has last dim " + std::to_string(qkv.size(2)) +
                ", which must be 3C with C divisible by heads = " + std::to_string(heads) +
                " (a multiple of 3·heads = " + std::to_string(3 * heads) + ")");
  }
  const std::int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, H = heads;
  if (key_padding_mask.defined()) check_padding_mask(op, key_padding_mask, qkv.device(), B, T, "qkv " + qkv.str());

  if (!attention_kernels().supports(qkv.device().kind, qkv.dtype()) ||
      !attention_backward_kernels().supports(qkv.device().kind, qkv.dtype())) {
    // No fused kernel for this dtype or device: the composed attention on head views.
    const Tensor y = scaled_dot_product_attention_composed(head_view(qkv, 0, C, H), head_view(qkv, 1, C, H),
                                                           head_view(qkv, 2, C, H), true, key_padding_mask);
    return y.permute({0, 2, 1, 3}).reshape({B, T, C});
  }

  const double scale = 1.0 / std::sqrt(static_cast<double>(C / H));
  const Tensor out = Tensor::empty({B, T, C}, qkv.dtype(), qkv.device());
  SavedAttention saved;
  {
    NoGradGuard no_grad;
    const Tensor packed = with_unit_rows(qkv.detach());
    const Tensor mask = key_padding_mask.defined() ? key_padding_mask.contiguous() : Tensor();
    saved = run_forward(head_view(packed, 0, C, H), head_view(packed, 1, C, H), head_view(packed, 2, C, H), mask,
                        true, scale, head_view(out, 0, C, H));
  }
  return record(out, op, {qkv}, [saved, B, T, C, H](const Tensor& grad) {
    // The kernel writes dq, dk and dv straight into their thirds of the packed gradient.
    const Tensor dqkv = Tensor::empty({B, T, 3 * C}, saved.q.dtype(), saved.q.device());
    run_backward(saved, head_view(with_unit_rows(grad), 0, C, H), head_view(dqkv, 0, C, H), head_view(dqkv, 1, C, H),
                 head_view(dqkv, 2, C, H));
    return std::vector<Tensor>{dqkv};
  });
}

}  // namespace kiln
