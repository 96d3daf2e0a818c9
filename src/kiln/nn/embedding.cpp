#include "kiln/nn/embedding.h"

#include <string>

#include "kiln/ops/ops.h"

namespace kiln::nn {

namespace {

EmbeddingOptions checked(EmbeddingOptions o) {
  if (o.num_embeddings <= 0 || o.embedding_dim <= 0) {
    throw Error("Embedding: num_embeddings and embedding_dim must be positive, got " +
                std::to_string(o.num_embeddings) + " and " + std::to_string(o.embedding_dim));
  }
  if (o.padding_idx) {
    const std::int64_t p = *o.padding_idx;
    if (p < -o.num_embeddings || p >= o.num_embeddings) {
      throw Error("Embedding: padding_idx " + std::to_string(p) + " must be within the table's " +
                  std::to_string(o.num_embeddings) + " rows (negative values count from the end)");
    }
    if (p < 0) o.padding_idx = p + o.num_embeddings;
  }
  return o;
}

}  // namespace

Embedding::Embedding(const EmbeddingOptions& options, Generator& gen) : options_(checked(options)) {
  weight_ = register_parameter("weight", Tensor::empty({options_.num_embeddings, options_.embedding_dim}));
  if (options_.init == Init::torch_default) {
    init::normal_(weight_, 0.0, 1.0, gen);
  } else {
    init::apply_(weight_, options_.init, gen);
  }
  if (options_.padding_idx) {
    NoGradGuard no_grad;
    Tensor row = weight_.slice(0, *options_.padding_idx, *options_.padding_idx + 1);
    fill_(row, 0.0);
  }
}

Embedding::Embedding(const EmbeddingOptions& options) : Embedding(options, default_generator()) {}

Tensor Embedding::forward(const Tensor& ids) {
  Tensor out = embedding(weight_, ids);
  if (options_.padding_idx && needs_grad({&weight_})) {
    // Padding lookups take their value from the table but pass no gradient
    // back to it: the gradient of where() reaches only the non-detached branch.
    const Tensor pad = eq(ids, Tensor::scalar(static_cast<double>(*options_.padding_idx), ids.dtype(), ids.device()));
    out = where(pad.unsqueeze(-1), out.detach(), out);
  }
  return out;
}

Tensor Embedding::compute_mask(const Tensor& ids, const Tensor& mask) const {
  if (!options_.mask_zero) return mask;
  if (!ids.defined()) throw Error(name() + ": mask_zero needs the ids to compute a mask, got an undefined tensor");
  NoGradGuard no_grad;
  return ne(ids, Tensor::scalar(0, ids.dtype(), ids.device()));
}

std::string Embedding::name() const {
  std::string s =
      "Embedding(" + std::to_string(options_.num_embeddings) + ", " + std::to_string(options_.embedding_dim);
  if (options_.padding_idx) s += ", padding_idx=" + std::to_string(*options_.padding_idx);
  if (options_.mask_zero) s += ", mask_zero=true";
  if (options_.init != Init::torch_default) s += std::string(", init=") + init_name(options_.init);
  return s + ")";
}

}  // namespace kiln::nn
