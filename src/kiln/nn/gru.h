#pragma once
// GRU: torch.nn.GRU's layer (multi-layer, bidirectional, PyTorch parameter
// names, gate order r, z, n and the reset gate applied after the recurrent
// product — Keras' reset_after=True) that also behaves as a Keras GRU layer in
// a Sequential. Options and the shared machinery are in recurrent.h; a GRU has
// no cell state, so RnnOutput::c_n stays undefined and RnnState::c must too.
//
//   nn::GRU gru(nn::GRUOptions{.input_size = 64, .hidden_size = 32, .batch_first = true}, gen);
//   Tensor last = gru(x, mask);  // [B, 32]
#include "kiln/core/rng.h"
#include "kiln/nn/recurrent.h"

namespace kiln::nn {

using GRUOptions = RnnOptions;

class GRU : public Recurrent {
 public:
  /// Draws parameters and dropout masks from `gen`, which must outlive the module.
  GRU(const GRUOptions& options, Generator& gen);
  /// Same, drawing from default_generator().
  explicit GRU(const GRUOptions& options);
};

}  // namespace kiln::nn
