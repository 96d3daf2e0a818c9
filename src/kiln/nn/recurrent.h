#pragma once
// Recurrent: what nn::LSTM and nn::GRU share — stacking layers, running both
// directions, dropout, padding masks, batch-first layout, and the parameters
// with PyTorch's names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
// ..._reverse), so torch state dicts load unchanged. Each layer-direction is
// one op (lstm_layer / gru_layer in kiln/ops/rnn.h).
//
// Dropout comes in three kinds, because PyTorch and Keras mean different
// things by "dropout"; each has its own name here:
//   inter_layer_dropout  PyTorch's `dropout`: on the outputs of every layer but
//                        the last, a fresh mask per element and call.
//   input_dropout        Keras' `dropout`: on the inputs of every layer, one
//                        mask per sequence (the same for all steps).
//   recurrent_dropout    Keras' `recurrent_dropout`: on h where it feeds the
//                        recurrent product, one mask per sequence.
// All three act in training mode only and scale kept values by 1/(1-p);
// each direction of a bidirectional layer draws its own masks.
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/nn/module.h"
#include "kiln/ops/rnn.h"

namespace kiln::nn {

/// How parameters start.
enum class RnnInit : std::uint8_t {
  torch,  ///< every parameter U(-1/√H, 1/√H), as torch.nn.LSTM / GRU
  keras,  ///< W_ih glorot_uniform, W_hh orthogonal, biases 0 (LSTM: forget gate 1), as Keras
};

/// Options of LSTM and GRU, set by name (in this order):
///   LSTM(LSTMOptions{.input_size = 28, .hidden_size = 128, .num_layers = 2, .bidirectional = true,
///                    .inter_layer_dropout = 0.2, .recurrent_dropout = 0.2, .batch_first = true,
///                    .return_sequences = true}, gen)
struct RnnOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 1;
  bool bias = true;
  /// A second stack runs from the last step back; outputs are concatenated [forward, backward].
  bool bidirectional = false;
  double inter_layer_dropout = 0.0;  ///< PyTorch's `dropout` (see the top of this file)
  double input_dropout = 0.0;        ///< Keras' `dropout`
  double recurrent_dropout = 0.0;    ///< Keras' `recurrent_dropout`
  /// Input and output are [B, T, ·] instead of [T, B, ·] (masks are always [B, T]).
  bool batch_first = false;
  /// What Layer::forward returns: the whole output sequence [.., D·H], or (false,
  /// Keras' default) the last real step's output [B, D·H] — for bidirectional,
  /// the forward direction's last and the backward direction's first, as Keras'
  /// Bidirectional. forward_with_state always returns the sequence.
  bool return_sequences = false;
  RnnInit init = RnnInit::torch;
  DType dtype = DType::f32;  ///< of the parameters (f32, or f64 for exact checks)
};

/// An initial state; either member may be undefined (zeros). Shapes [L·D, B, H]
/// with index layer·D + direction, as PyTorch's h0 / c0.
struct RnnState {
  Tensor h{};
  Tensor c{};  ///< LSTM only
};

/// The full result of a run.
struct RnnOutput {
  Tensor output{};  ///< [B, T, D·H] (batch_first) or [T, B, D·H]; 0 at padded steps
  Tensor h_n{};     ///< [L·D, B, H]: each layer-direction's state after its last real step
  Tensor c_n{};     ///< [L·D, B, H] for LSTM; undefined for GRU
};

class Recurrent : public Layer {
 public:
  /// The output sequence or the last step's output, as options().return_sequences says.
  Tensor forward(const Tensor& x) override;
  /// Same with a padding mask [B, T] bool (true = real step).
  Tensor forward(const Tensor& x, const Tensor& mask) override;
  /// `mask` when returning sequences (lengths become the [B, T] bool mask), else
  /// undefined (the step axis is gone).
  Tensor compute_mask(const Tensor& x, const Tensor& mask) const override;
  /// PyTorch's forward: output sequence and final states from an optional
  /// initial state. `mask` is a [B, T] bool (true = real step) or an integer
  /// [B] tensor of lengths; padded steps keep the state and output 0 (as packed
  /// sequences), so the backward direction starts at each sequence's last real step.
  RnnOutput forward_with_state(const Tensor& x, const RnnState& initial = {}, const Tensor& mask = Tensor());

  std::string name() const override;
  const RnnOptions& options() const { return options_; }
  /// The parameters of one layer (0-based) and direction (0 forward, 1 backward).
  const RnnWeights& weights(std::int64_t layer, std::int64_t direction = 0) const;

 protected:
  enum class Cell : std::uint8_t { lstm, gru };
  /// Draws initial parameters and dropout masks from `gen`, which must outlive the module.
  Recurrent(Cell cell, const RnnOptions& options, Generator& gen);

 private:
  struct Run {
    RnnOutput result;
    Tensor last;  // [B, D·H]: the last real step's output of the top layer
  };
  Run run(const Tensor& x, const RnnState& initial, const Tensor& mask, bool need_sequence, bool need_states);
  Tensor keep_mask(const Shape& shape, double p, const Tensor& like);
  std::int64_t directions() const { return options_.bidirectional ? 2 : 1; }
  const char* kind() const { return cell_ == Cell::lstm ? "LSTM" : "GRU"; }

  Cell cell_;
  RnnOptions options_;
  Generator* gen_;                   // not owned
  std::vector<RnnWeights> weights_;  // index layer·D + direction
};

}  // namespace kiln::nn
