#pragma once
// Recurrent layers as ops: one LSTM or GRU layer, in one direction, over a
// whole sequence, recorded as ONE autograd node whose backward runs
// back-propagation through time internally (ops/rnn.cpp says how). nn::LSTM
// and nn::GRU stack these into multi-layer, bidirectional modules.
//
// Sequences are time-major here: x [T, B, in]. Weights use PyTorch's layout
// and gate order (LSTM: i, f, g, o; GRU: r, z, n), so torch checkpoints map
// one to one.
#include <cstdint>

#include "kiln/core/tensor.h"

namespace kiln {

/// The parameters of one layer in one direction (G = 4 for LSTM, 3 for GRU).
struct RnnWeights {
  Tensor w_ih{};  ///< [G·H, in]
  Tensor w_hh{};  ///< [G·H, H]
  Tensor b_ih{};  ///< [G·H], or undefined for a layer without bias
  Tensor b_hh{};  ///< [G·H], or undefined
};

/// Everything about a run besides input and weights; all fields optional.
struct RnnLayerOptions {
  /// Runs from the last step to the first (the backward half of a bidirectional layer).
  bool reverse = false;
  Tensor h0{};  ///< [B, H] initial hidden state; undefined = zeros
  Tensor c0{};  ///< [B, H] initial cell state (LSTM only); undefined = zeros
  /// [T, B] bool, true = real step. A padded step keeps the previous state and
  /// outputs 0, so with lengths-style padding the reverse direction starts at
  /// each sequence's last real step (PyTorch's packed sequences).
  Tensor mask{};
  /// [B, H] factor on h where it feeds the recurrent GEMM (and only there):
  /// Keras' recurrent dropout, one mask per sequence, already scaled by 1/(1-p).
  Tensor recurrent_mask{};
};

/// What a layer run produces; all three share one differentiable buffer.
struct RnnLayerOutput {
  Tensor output{};  ///< [T, B, H]: h at every step in time order, 0 at padded steps
  Tensor h_n{};     ///< [B, H]: the state after the last real step (in the run's direction)
  Tensor c_n{};     ///< [B, H]: LSTM cell state after the last real step; undefined for GRU
};

/// One LSTM layer over x [T, B, in] (f32 or f64).
///   auto r = lstm_layer(x, {.w_ih = w_ih, .w_hh = w_hh, .b_ih = b_ih, .b_hh = b_hh}, {.mask = m});
RnnLayerOutput lstm_layer(const Tensor& x, const RnnWeights& weights, const RnnLayerOptions& options = {});

/// One GRU layer over x [T, B, in] (f32 or f64); options.c0 must stay undefined.
RnnLayerOutput gru_layer(const Tensor& x, const RnnWeights& weights, const RnnLayerOptions& options = {});

/// [B, steps] bool mask, true where step < lengths[b]; lengths is an integer [B] tensor.
Tensor sequence_mask(const Tensor& lengths, std::int64_t steps);

}  // namespace kiln
