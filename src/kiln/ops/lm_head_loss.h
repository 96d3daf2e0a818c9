#pragma once
// The language-model head fused with cross-entropy: mean over rows of
// CE(h · Wᵀ, target) for hidden states h [N, C] and the (tied) output matrix
// W [V, C], computed a chunk of rows at a time so the N·V logits never exist
// at once (at GPT-2 scale, B=4, T=1024, they would be 0.8 GB, and their
// gradient as much again).
//
// When a gradient is needed the forward pass forms it on the spot, as Liger
// Kernel does: each chunk's logits are turned in place into
// softmax − one-hot, then dh = dlogits · W and dW += dlogitsᵀ · h. The
// backward pass only scales the two by the incoming gradient, so the head's
// GEMMs run once and the chunk buffer is the only logits-sized memory.
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

struct LmHeadLossOptions {
  std::int64_t ignore_index = -100;  ///< rows whose target is this add nothing and are not counted
  /// Rows per chunk; 0 picks about 128 MiB of logits per chunk.
  std::int64_t chunk_rows = 0;
};

/// hidden [N, C], weight [V, C] (same floating dtype), target i64 [N] → scalar
/// mean loss (f32 for 16-bit inputs). A target outside [0, V) that is not
/// ignore_index is refused naming its row and value. With every row ignored
/// the loss is 0 (not NaN) and so are the gradients.
Tensor lm_head_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& target,
                             const LmHeadLossOptions& options = {});

// ---- kernels ----------------------------------------------------------------
// logits contiguous [n, V] (compute dtype), target i64 [n]. Writes the row's loss
// (lse − x[t], 0 when ignored) into loss_rows [n] (f32, or f64 for f64 logits) and,
// when `grad`, overwrites the row with softmax(x) − onehot(t) (zeros when ignored).
// Targets are already validated by the op.
using SoftmaxXentRowsKernel = void(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                   bool grad, const Tensor& loss_rows);
KernelTable<SoftmaxXentRowsKernel>& softmax_xent_rows_kernels();
// Validates target i64 [n] against [0, V) (ignore_index allowed); writes the
// number of counted rows into count (i64 [1]). Throws naming the first bad row.
using CheckTargetsKernel = void(const Tensor& target, std::int64_t vocab, std::int64_t ignore_index,
                                const Tensor& count);
KernelTable<CheckTargetsKernel>& check_targets_kernels();

}  // namespace kiln
