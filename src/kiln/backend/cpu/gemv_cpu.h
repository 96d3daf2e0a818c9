#pragma once
// linear() for one to four rows of input — token-by-token decoding — as a
// weight-streaming GEMV: every thread reads its own rows of W once, in order,
// with the few input rows held in registers. Decoding is bound by reading the
// weights; oneDNN's GEMM at M = 1 reached about half the copy bandwidth here.
#include "kiln/core/tensor.h"
#include "kiln/ops/linear_activation.h"

namespace kiln::cpu {

/// out[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) when M <= 4, x and w share a
/// dtype (f32, or bf16 with f32 accumulation), out is f32, and rows are dense.
/// Returns false, having done nothing, when the case is not one it covers.
bool try_linear_gemv(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act, const Tensor& out);

}  // namespace kiln::cpu
