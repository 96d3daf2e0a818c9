#pragma once
// Mixed precision (torch.autocast for the CPU): while an AutocastGuard(bf16) is
// alive on a thread, the ops that carry a model's FLOPs — linear, the fused
// causal attention and the LM head — run their GEMMs on bf16 copies of their
// f32 operands and write f32 results (f32 accumulation inside the GEMM).
// Parameters stay f32 (the master weights), so do their gradients and the
// optimizer's moments, and every reduction (LayerNorm, softmax, the loss) runs
// in f32. A weight's bf16 copy is kept beside it and remade only when the
// weight changes; AdamW writes it in its update pass (autocast_weight). bf16 keeps f32's exponent range, so no loss scaling is needed;
// the training step still checks the gradient norm for NaN/inf.
#include <optional>

#include "kiln/core/dtype.h"
#include "kiln/core/tensor.h"

namespace kiln {

class AutocastGuard {
 public:
  /// dtype bf16 turns autocast on, f32 turns it off for the guard's lifetime.
  explicit AutocastGuard(DType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> previous_;
};

/// The active autocast dtype on this thread (bf16), or nullopt.
std::optional<DType> autocast_dtype();

/// `w` cast to `low` for an autocast GEMM. A parameter (a contiguous leaf that
/// requires grad) keeps its copy and reuses it until its storage's version
/// changes, the way torch's autocast caches casts of weights — but for the
/// whole training run, since the optimizer refreshes the copy in its own pass
/// (cast_mirror_for_update). Anything else is cast on each call.
Tensor autocast_weight(const Tensor& w, DType low);

/// The bf16 copy of parameter `p` if one exists and is current, else an
/// undefined tensor. An optimizer writes the copy in the update pass that
/// writes `p`, then calls mark_cast_mirror_current(p).
Tensor cast_mirror_for_update(const Tensor& p);
/// Records that p's copy matches p's contents at its current version.
void mark_cast_mirror_current(const Tensor& p);

}  // namespace kiln
