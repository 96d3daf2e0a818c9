#pragma once
// Mixed precision (torch.autocast for the CPU): while an AutocastGuard(bf16) is
// alive on a thread, the ops that carry a model's FLOPs — linear, the fused
// causal attention and the LM head — run their GEMMs on bf16 copies of their
// f32 operands and write f32 results (f32 accumulation inside the GEMM).
// Parameters stay f32 (the master weights), so do their gradients and the
// optimizer's moments, and every reduction (LayerNorm, softmax, the loss) runs
// in f32. The bf16 copies of weights are made per call and kept only for the
// backward pass. bf16 keeps f32's exponent range, so no loss scaling is needed;
// the training step still checks the gradient norm for NaN/inf.
#include <optional>

#include "kiln/core/dtype.h"

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

}  // namespace kiln
