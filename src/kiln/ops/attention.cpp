// Scaled dot-product attention, composed from matmul, masked_fill and softmax
// (autograd comes from those ops; k.transpose(-2, -1) is a free view that the
// GEMM reads directly).
//
// Masking conventions:
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
#include <cmath>
#include <limits>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln {

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

// The padding mask reshaped to broadcast against scores [..., Tq, Tk].
Tensor padding_mask(const Tensor& mask, const Tensor& q, std::int64_t Tk) {
  if (mask.dtype() != DType::boolean) {
    throw Error(std::string(kOp) + ": key_padding_mask must be bool (true = padding), got " + mask.str());
  }
  if (mask.device() != q.device()) {
    throw Error(std::string(kOp) + ": key_padding_mask on " + mask.device().str() + ", q on " + q.device().str());
  }
  if (q.dim() != 3 && q.dim() != 4) {
    throw Error(std::string(kOp) + ": key_padding_mask needs q as [B, Tq, d] or [B, H, Tq, d], got " + q.str());
  }
  const std::int64_t B = q.size(0);
  if (mask.dim() != 2 || mask.size(0) != B || mask.size(1) != Tk) {
    throw Error(std::string(kOp) + ": key_padding_mask " + mask.str() + " must be [" + std::to_string(B) + ", " +
                std::to_string(Tk) + "] for q " + q.str());
  }
  return q.dim() == 4 ? mask.reshape({B, 1, 1, Tk}) : mask.reshape({B, 1, Tk});
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
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

}  // namespace kiln
