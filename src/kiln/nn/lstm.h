#pragma once
// LSTM: torch.nn.LSTM's layer (multi-layer, bidirectional, PyTorch parameter
// names and gate order i, f, g, o) that also behaves as a Keras LSTM layer in
// a Sequential (masks, return_sequences, Keras dropout). Options and the
// shared machinery are in recurrent.h.
//
//   nn::LSTM lstm(nn::LSTMOptions{.input_size = 28, .hidden_size = 128, .num_layers = 2,
//                                 .bidirectional = true, .inter_layer_dropout = 0.2,
//                                 .recurrent_dropout = 0.2, .batch_first = true}, gen);
//   Tensor last = lstm(x);                             // [B, 2·128]
//   nn::RnnOutput r = lstm.forward_with_state(x, {.h = h0, .c = c0}, lengths);
#include "kiln/core/rng.h"
#include "kiln/nn/recurrent.h"

namespace kiln::nn {

using LSTMOptions = RnnOptions;

class LSTM : public Recurrent {
 public:
  /// Draws parameters and dropout masks from `gen`, which must outlive the module.
  LSTM(const LSTMOptions& options, Generator& gen);
  /// Same, drawing from default_generator().
  explicit LSTM(const LSTMOptions& options);
};

}  // namespace kiln::nn
