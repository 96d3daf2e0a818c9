#pragma once
// Embedding (torch.nn.Embedding, with Keras' mask_zero): rows of a table
// [num_embeddings, embedding_dim] looked up by integer ids, on the embedding op.
#include <cstdint>
#include <optional>
#include <string>

#include "kiln/core/rng.h"
#include "kiln/nn/init.h"
#include "kiln/nn/module.h"

namespace kiln::nn {

/// Options of Embedding, set by name:
///   Embedding({.num_embeddings = 10000, .embedding_dim = 64, .mask_zero = true})
struct EmbeddingOptions {
  std::int64_t num_embeddings = 0;  ///< vocabulary size V, required
  std::int64_t embedding_dim = 0;   ///< D, required
  /// As in PyTorch: this row starts at zero and gets no gradient, so it stays
  /// what it is (padding). Negative values count from the end (V + padding_idx).
  std::optional<std::int64_t> padding_idx = std::nullopt;
  /// As in Keras: compute_mask() marks id 0 as padding ([B, T] bool, true =
  /// real step), and Sequential hands that mask to the layers after this one.
  bool mask_zero = false;
  /// torch_default is N(0, 1) as in PyTorch; Init::uniform is Keras' default.
  Init init = Init::torch_default;
};

class Embedding : public Layer {
 public:
  /// weight [V, D] (f32), drawn from `gen`.
  Embedding(const EmbeddingOptions& options, Generator& gen);
  /// Same, drawing from default_generator().
  explicit Embedding(const EmbeddingOptions& options);

  /// ids (i64 or i32) of any shape → [..., D]. An id outside [0, V) throws,
  /// naming the id and V.
  Tensor forward(const Tensor& ids) override;
  /// With mask_zero: ids != 0 (bool, the shape of ids); else `mask` unchanged.
  Tensor compute_mask(const Tensor& ids, const Tensor& mask) const override;
  /// "Embedding(10000, 64, padding_idx=0, mask_zero=true)" (options shown when set).
  std::string name() const override;

  /// The options, with padding_idx resolved to [0, V).
  const EmbeddingOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }

 private:
  EmbeddingOptions options_;
  Tensor weight_;
};

}  // namespace kiln::nn
