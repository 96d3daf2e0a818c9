#pragma once
// Kernel signatures of the fused recurrent cells (LSTM, GRU), one time step
// each. The op layer (ops/rnn.cpp) runs the time loop: it precomputes the input
// projection of every step with one GEMM, adds h·W_hhᵀ per step with the matmul
// kernel, and calls these kernels for everything elementwise in between, so a
// step is two kernel launches forward and two backward on any device.
//
// Shapes: B rows (batch), H units. Every tensor is contiguous row-major; [B]
// masks are bool. "Undefined" tensors mean the feature is off. A row whose mask
// is false is a padded step: its state passes through unchanged, its output is
// 0 and it contributes no gradient to the gates.
//
// Recurrent dropout multiplies the state by `rec_mask` only where it feeds the
// next step's recurrent GEMM (Keras' recurrent_dropout), so the forward kernels
// also write that product (`h_rec`), and the backward kernels take the GEMM's
// gradient `dh_rec` before the mask and apply it themselves.
#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"

namespace kiln {

/// One LSTM step. Gate order is PyTorch's: input, forget, cell (g), output.
///   c = σ(f)·c_prev + σ(i)·tanh(g),  h = σ(o)·tanh(c)
struct LstmCellForward {
  Tensor gates{};     ///< [B, 4H] in: pre-activations; out: σ(i), σ(f), tanh(g), σ(o) (kept for backward)
  Tensor c_prev{};    ///< [B, H]
  Tensor h_prev{};    ///< [B, H]
  Tensor mask{};      ///< [B] bool, or undefined (every row real)
  Tensor rec_mask{};  ///< [B, H] or undefined
  Tensor c{};         ///< [B, H] out: the cell state after the step
  Tensor h{};         ///< [B, H] out: the hidden state after the step
  Tensor y{};         ///< [B, H] out: h on real rows, 0 on padded ones; undefined when mask is (y would be h)
  Tensor h_rec{};     ///< [B, H] out: h·rec_mask; defined exactly when rec_mask is
};

/// The adjoint of LstmCellForward on the same step. The gradient reaching h is
///   dh = dh_carry + rec_mask·dh_rec + dy   (dy only on real rows)
/// and dh_carry becomes the part of the gradient of h_prev that does not go
/// through the recurrent GEMM: 0 on real rows, dh on padded ones.
struct LstmCellBackward {
  Tensor gates{};     ///< [B, 4H] the activations the forward kernel left
  Tensor c_prev{};    ///< [B, H]
  Tensor c{};         ///< [B, H] the cell state after the step
  Tensor mask{};      ///< [B] bool or undefined
  Tensor rec_mask{};  ///< [B, H] or undefined
  Tensor dy{};        ///< [B, H] gradient of the step's output, or undefined
  Tensor dh_rec{};    ///< [B, H] gradient of h·rec_mask from the next step's GEMM, or undefined
  Tensor dh_carry{};  ///< [B, H] in/out (see above)
  Tensor dc{};        ///< [B, H] in: gradient of c; out: gradient of c_prev
  Tensor dgates{};    ///< [B, 4H] out: gradient of the pre-activations (0 on padded rows)
};

/// One GRU step, PyTorch's formulation and gate order (reset, update, new):
///   r = σ(x_r + h_r + b_hr),  z = σ(x_z + h_z + b_hz),  n = tanh(x_n + r·(h_n + b_hn)),
///   h = (1 - z)·n + z·h_prev
/// where x_* come from `gates` (x·W_ihᵀ + b_ih) and h_* from `hidden_gates` (h_prev·W_hhᵀ).
struct GruCellForward {
  Tensor gates{};         ///< [B, 3H] in: the input part; out: r, z, n (kept for backward)
  Tensor hidden_gates{};  ///< [B, 3H] in: h_prev·W_hhᵀ (no bias); out: its n block becomes h_n + b_hn
  Tensor b_hh{};          ///< [3H] (zeros when the layer has no bias)
  Tensor h_prev{};        ///< [B, H]
  Tensor mask{};          ///< [B] bool or undefined
  Tensor rec_mask{};      ///< [B, H] or undefined
  Tensor h{};             ///< [B, H] out
  Tensor y{};             ///< [B, H] out or undefined, as for the LSTM
  Tensor h_rec{};         ///< [B, H] out or undefined, as for the LSTM
};

/// The adjoint of GruCellForward. dh as for the LSTM; dh_carry becomes z·dh on
/// real rows (h depends on h_prev directly) and dh on padded ones.
struct GruCellBackward {
  Tensor gates{};          ///< [B, 3H] r, z, n
  Tensor hidden_gates{};   ///< [B, 3H] whose n block holds h_n + b_hn
  Tensor h_prev{};         ///< [B, H]
  Tensor mask{};           ///< [B] bool or undefined
  Tensor rec_mask{};       ///< [B, H] or undefined
  Tensor dy{};             ///< [B, H] or undefined
  Tensor dh_rec{};         ///< [B, H] or undefined
  Tensor dh_carry{};       ///< [B, H] in/out
  Tensor dgates{};         ///< [B, 3H] out: gradient of the input part (x·W_ihᵀ + b_ih)
  Tensor dhidden_gates{};  ///< [B, 3H] out: gradient of h_prev·W_hhᵀ + b_hh
};

using LstmCellKernel = void(const LstmCellForward& step);
using LstmCellBackwardKernel = void(const LstmCellBackward& step);
using GruCellKernel = void(const GruCellForward& step);
using GruCellBackwardKernel = void(const GruCellBackward& step);

KernelTable<LstmCellKernel>& lstm_cell_kernels();
KernelTable<LstmCellBackwardKernel>& lstm_cell_backward_kernels();
KernelTable<GruCellKernel>& gru_cell_kernels();
KernelTable<GruCellBackwardKernel>& gru_cell_backward_kernels();

}  // namespace kiln
