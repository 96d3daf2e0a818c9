#include "kiln/models/lstm_lm.h"

#include <string>

#include "kiln/nn/init.h"
#include "kiln/nn/module_group.h"
#include "kiln/ops/lm_head_loss.h"
#include "kiln/ops/ops.h"

namespace kiln::models {

void LstmLmConfig::validate() const {
  for (const auto& [v, what] : {std::pair{vocab_size, "vocab_size"}, std::pair{embedding_dim, "embedding_dim"},
                               std::pair{hidden_size, "hidden_size"}, std::pair{num_layers, "num_layers"}}) {
    if (v <= 0) throw Error(std::string("LSTM LM config: ") + what + " must be positive, got " + std::to_string(v));
  }
  if (!(dropout >= 0.0 && dropout < 1.0)) throw Error("LSTM LM config: dropout must be in [0, 1), got " + std::to_string(dropout));
  if (tie_weights && embedding_dim != hidden_size) {
    throw Error("LSTM LM config: tie_weights needs embedding_dim (" + std::to_string(embedding_dim) +
                ") = hidden_size (" + std::to_string(hidden_size) + ")");
  }
}

std::string LstmLmConfig::str() const {
  return "vocab " + std::to_string(vocab_size) + ", embedding " + std::to_string(embedding_dim) + ", " +
         std::to_string(num_layers) + " layers of " + std::to_string(hidden_size) + (tie_weights ? ", tied" : "");
}

LstmLm::LstmLm(const LstmLmConfig& config, Generator& gen) : config_(config), gen_(&gen) {
  config_.validate();
  embedding_ = register_module("embedding", std::make_shared<nn::Embedding>(
                                                nn::EmbeddingOptions{.num_embeddings = config_.vocab_size,
                                                                     .embedding_dim = config_.embedding_dim},
                                                gen));
  lstm_ = register_module("lstm", std::make_shared<nn::LSTM>(nn::LSTMOptions{.input_size = config_.embedding_dim,
                                                                             .hidden_size = config_.hidden_size,
                                                                             .num_layers = config_.num_layers,
                                                                             .inter_layer_dropout = config_.dropout,
                                                                             .batch_first = true,
                                                                             .return_sequences = true},
                                                             gen));
  // Small embeddings (U(-0.1, 0.1), as the PyTorch word-LM example) keep the tied head's logits near 0 at start.
  Tensor w = embedding_->weight();
  nn::init::uniform_(w, -0.1, 0.1, gen);
  if (!config_.tie_weights) {
    auto head = register_module("head", std::make_shared<nn::ModuleGroup>("Head"));
    head_ = head->add_parameter("weight", Tensor::empty({config_.vocab_size, config_.hidden_size}));
    nn::init::uniform_(head_, -0.1, 0.1, gen);
  }
}

const Tensor& LstmLm::head_weight() const { return config_.tie_weights ? embedding_->weight() : head_; }

Tensor LstmLm::hidden(const Tensor& ids, const nn::RnnState& initial, nn::RnnState* final_state) {
  if (ids.dim() != 2) throw Error("LSTM LM: token ids must be [batch, time], got " + ids.str());
  if (ids.size(1) == 0) throw Error("LSTM LM: empty sequence " + ids.str());
  const bool training = is_training();
  Tensor x = (*embedding_)(ids);
  if (training && config_.dropout > 0.0) x = dropout(x, config_.dropout, true, *gen_);
  nn::RnnOutput out = lstm_->forward_with_state(x, initial);
  if (final_state != nullptr) *final_state = {out.h_n, out.c_n};
  Tensor h = out.output;
  if (training && config_.dropout > 0.0) h = dropout(h, config_.dropout, true, *gen_);
  return h;
}

Tensor LstmLm::loss(const Tensor& ids, const Tensor& targets, std::int64_t ignore_index) {
  if (targets.shape() != ids.shape()) {
    throw Error("LSTM LM: targets " + targets.str() + " must have the shape of the inputs " + ids.str());
  }
  const Tensor h = hidden(ids, {}, nullptr);
  const std::int64_t rows = h.size(0) * h.size(1);
  return lm_head_cross_entropy(h.reshape({rows, config_.hidden_size}), head_weight(), targets.reshape({rows}),
                               {.ignore_index = ignore_index});
}

Tensor LstmLm::next_logits(const Tensor& ids, nn::RnnState& state) {
  NoGradGuard no_grad;
  nn::RnnState next;
  const Tensor h = hidden(ids, state, &next);
  state = next;
  const std::int64_t T = h.size(1);
  return matmul(h.slice(1, T - 1, T).view({h.size(0), config_.hidden_size}), head_weight().t());
}

double LstmLm::train_flops_per_token(std::int64_t /*T*/) const {
  // Per token and layer the gates take 4H·(in + H) multiply-adds; the head V·H.
  // 2 FLOPs per multiply-add forward, twice that backward: 6 per weight.
  const double H = static_cast<double>(config_.hidden_size), E = static_cast<double>(config_.embedding_dim);
  double weights = 4.0 * H * (E + H);
  weights += static_cast<double>(config_.num_layers - 1) * 4.0 * H * (2.0 * H);
  weights += static_cast<double>(config_.vocab_size) * H;
  return 6.0 * weights;
}

}  // namespace kiln::models
