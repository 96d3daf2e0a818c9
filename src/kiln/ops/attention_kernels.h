#pragma once
// Kernel tables of the fused (flash-attention style) scaled dot-product
// attention, the attention family beside ops/kernels.h; the op layer is
// ops/attention.cpp. The forward kernel never forms the Tq×Tk score matrix: it
// streams key blocks through an online softmax and keeps only the output and
// one log-sum-exp per query row, from which the backward kernel recomputes the
// probabilities tile by tile.
//
// Shapes: q [B, H, Tq, d], k [B, H, Tk, d], v [B, H, Tk, dv], out and grad_out
// [B, H, Tq, dv]. Every one of them, and dq, dk, dv (shaped as q, k, v), may
// have any element strides as long as the last dimension's is 1: the op layer
// hands in strided views (heads of one packed qkv projection, heads merged
// into [B, T, C]) so that nothing is split, concatenated or transposed around
// the kernel. The statistics dtype is f64 for f64 inputs, else f32.
//
// Masking (the conventions of ops/attention.cpp): query i sees key j unless
//   causal and j > i + (Tk - Tq)     (bottom-right alignment), or
//   key_padding_mask[b][j] is true.
// A query row that sees no key has output 0, log-sum-exp +inf, and gives and
// takes no gradient.
#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

struct AttentionForward {
  Tensor q{}, k{}, v{};       ///< see the shapes above
  Tensor key_padding_mask{};  ///< bool [B, Tk] contiguous, true = padding; or undefined
  bool causal = false;
  double scale = 1.0;         ///< scores are scale·(q·k)
  Tensor out{};               ///< [B, H, Tq, dv] out: softmax(scores)·v over the visible keys
  Tensor lse{};               ///< [B, H, Tq] contiguous, statistics dtype, out: log Σ_visible exp(score)
};

/// The adjoint of AttentionForward, from what it saved. With P = exp(scores - lse)
/// and D_i = Σ_e dO_ie·O_ie:  dV = Pᵀ·dO,  dS = P∘(dO·Vᵀ - D),  dQ = scale·dS·K,
/// dK = scale·dSᵀ·Q. dq, dk, dv are written whole (not accumulated into).
struct AttentionBackward {
  Tensor q{}, k{}, v{};
  Tensor key_padding_mask{};
  bool causal = false;
  double scale = 1.0;
  Tensor out{};       ///< [B, H, Tq, dv] the forward's output
  Tensor lse{};       ///< [B, H, Tq] the forward's log-sum-exp
  Tensor grad_out{};  ///< [B, H, Tq, dv]
  Tensor dq{}, dk{}, dv{};  ///< out
};

using AttentionKernel = void(const AttentionForward& args);
using AttentionBackwardKernel = void(const AttentionBackward& args);

KernelTable<AttentionKernel>& attention_kernels();
KernelTable<AttentionBackwardKernel>& attention_backward_kernels();

}  // namespace kiln
