#include "kiln/models/bert.h"

#include <string>

#include "kiln/nn/init.h"
#include "kiln/nn/module_group.h"
#include "kiln/ops/ops.h"

namespace kiln::models {

namespace {

void require_positive(std::int64_t v, const char* what) {
  if (v <= 0) throw Error(std::string("BERT config: ") + what + " must be positive, got " + std::to_string(v));
}

Tensor maybe_dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return (p > 0.0 && training) ? dropout(x, p, true, gen) : x;
}

// Every id in [0, limit), else an error naming the first offender.
void check_range(const Tensor& ids, std::int64_t limit, const char* what) {
  const std::vector<std::int64_t> v = ids.to(DType::i64).contiguous().to_vector<std::int64_t>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= limit) {
      throw Error(std::string("BERT: ") + what + " " + std::to_string(v[i]) + " at flat position " + std::to_string(i) +
                  " is outside [0, " + std::to_string(limit) + ")");
    }
  }
}

}  // namespace

void BertConfig::validate() const {
  require_positive(vocab_size, "vocab_size");
  require_positive(hidden_size, "hidden_size");
  require_positive(num_hidden_layers, "num_hidden_layers");
  require_positive(num_attention_heads, "num_attention_heads");
  require_positive(intermediate_size, "intermediate_size");
  require_positive(max_position_embeddings, "max_position_embeddings");
  require_positive(type_vocab_size, "type_vocab_size");
  if (hidden_size % num_attention_heads != 0) {
    throw Error("BERT config: hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                std::to_string(num_attention_heads));
  }
  if (!(layer_norm_eps > 0.0)) throw Error("BERT config: layer_norm_eps must be positive");
  for (const auto& [p, name] : {std::pair{hidden_dropout_prob, "hidden_dropout_prob"},
                               std::pair{attention_probs_dropout_prob, "attention_probs_dropout_prob"}}) {
    if (!(p >= 0.0 && p < 1.0)) throw Error(std::string("BERT config: ") + name + " must be in [0, 1), got " + std::to_string(p));
  }
}

std::string BertConfig::str() const {
  return "vocab " + std::to_string(vocab_size) + ", " + std::to_string(num_hidden_layers) + " layers, " +
         std::to_string(num_attention_heads) + " heads, hidden " + std::to_string(hidden_size) + ", intermediate " +
         std::to_string(intermediate_size) + ", positions " + std::to_string(max_position_embeddings);
}

BertConfig bert_base() { return BertConfig{}; }
BertConfig bert_tiny() {
  return BertConfig{.vocab_size = 512, .hidden_size = 32, .num_hidden_layers = 2, .num_attention_heads = 4,
                    .intermediate_size = 64, .max_position_embeddings = 64, .hidden_dropout_prob = 0.0};
}

BertLayer::BertLayer(const BertConfig& c, Generator& gen) : config_(c), gen_(&gen) {
  const std::int64_t H = c.hidden_size;
  const nn::LayerNormOptions ln{.normalized_shape = {H}, .eps = c.layer_norm_eps};
  // Hugging Face's nesting: attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
  // intermediate.dense, output.{dense,LayerNorm}.
  auto attention = std::make_shared<nn::ModuleGroup>("BertAttention");
  auto self = attention->add("self", std::make_shared<nn::ModuleGroup>("BertSelfAttention"));
  query_ = self->add("query", std::make_shared<nn::Linear>(H, H, true, gen));
  key_ = self->add("key", std::make_shared<nn::Linear>(H, H, true, gen));
  value_ = self->add("value", std::make_shared<nn::Linear>(H, H, true, gen));
  auto attn_output = attention->add("output", std::make_shared<nn::ModuleGroup>("BertSelfOutput"));
  attn_out_ = attn_output->add("dense", std::make_shared<nn::Linear>(H, H, true, gen));
  attn_norm_ = attn_output->add("LayerNorm", std::make_shared<nn::LayerNorm>(ln));
  register_module("attention", attention);
  auto intermediate = std::make_shared<nn::ModuleGroup>("BertIntermediate");
  intermediate_ = intermediate->add("dense", std::make_shared<nn::Linear>(H, c.intermediate_size, true, gen));
  register_module("intermediate", intermediate);
  auto output = std::make_shared<nn::ModuleGroup>("BertOutput");
  output_ = output->add("dense", std::make_shared<nn::Linear>(c.intermediate_size, H, true, gen));
  output_norm_ = output->add("LayerNorm", std::make_shared<nn::LayerNorm>(ln));
  register_module("output", output);
}

Tensor BertLayer::forward(const Tensor& x, const Tensor& key_padding) {
  const bool training = is_training();
  const std::int64_t B = x.size(0), T = x.size(1), H = config_.hidden_size, heads = config_.num_attention_heads;
  const auto split = [&](const Tensor& t) { return t.view({B, T, heads, H / heads}).permute({0, 2, 1, 3}); };
  const Tensor q = split((*query_)(x)), k = split((*key_)(x)), v = split((*value_)(x));
  const Tensor ctx = scaled_dot_product_attention(q, k, v, /*causal=*/false, key_padding);  // [B, heads, T, d]
  const Tensor attn = (*attn_out_)(ctx.permute({0, 2, 1, 3}).contiguous().view({B, T, H}));
  const Tensor h = (*attn_norm_)(add(x, maybe_dropout(attn, config_.hidden_dropout_prob, training, *gen_)));
  // The exact GELU rides in the GEMM's epilogue when no gradient is needed.
  const Tensor inter = linear(h, intermediate_->weight(), intermediate_->bias(), LinearActivation::gelu_erf);
  const Tensor out = (*output_)(inter);
  return (*output_norm_)(add(h, maybe_dropout(out, config_.hidden_dropout_prob, training, *gen_)));
}

Bert::Bert(const BertConfig& config, Generator& gen) : config_(config), gen_(&gen) {
  config_.validate();
  const std::int64_t H = config_.hidden_size;
  const nn::LayerNormOptions ln{.normalized_shape = {H}, .eps = config_.layer_norm_eps};
  auto embeddings = std::make_shared<nn::ModuleGroup>("BertEmbeddings");
  word_ = embeddings->add("word_embeddings", std::make_shared<nn::Embedding>(
                                                 nn::EmbeddingOptions{.num_embeddings = config_.vocab_size, .embedding_dim = H}, gen));
  position_ = embeddings->add(
      "position_embeddings",
      std::make_shared<nn::Embedding>(nn::EmbeddingOptions{.num_embeddings = config_.max_position_embeddings, .embedding_dim = H}, gen));
  token_type_ = embeddings->add(
      "token_type_embeddings",
      std::make_shared<nn::Embedding>(nn::EmbeddingOptions{.num_embeddings = config_.type_vocab_size, .embedding_dim = H}, gen));
  embed_norm_ = embeddings->add("LayerNorm", std::make_shared<nn::LayerNorm>(ln));
  register_module("embeddings", embeddings);
  auto encoder = std::make_shared<nn::ModuleGroup>("BertEncoder");
  auto layer_list = encoder->add("layer", std::make_shared<nn::ModuleGroup>("ModuleList"));
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    layers_.push_back(layer_list->add(std::to_string(i), std::make_shared<BertLayer>(config_, gen)));
  }
  register_module("encoder", encoder);
  auto pooler = std::make_shared<nn::ModuleGroup>("BertPooler");
  pooler_ = pooler->add("dense", std::make_shared<nn::Linear>(H, H, true, gen));
  register_module("pooler", pooler);
  // Heads: cls.predictions.{transform.{dense,LayerNorm}, bias}, cls.seq_relationship.
  auto cls = std::make_shared<nn::ModuleGroup>("BertPreTrainingHeads");
  auto predictions = cls->add("predictions", std::make_shared<nn::ModuleGroup>("BertLMPredictionHead"));
  auto transform = predictions->add("transform", std::make_shared<nn::ModuleGroup>("BertPredictionHeadTransform"));
  mlm_transform_ = transform->add("dense", std::make_shared<nn::Linear>(H, H, true, gen));
  mlm_norm_ = transform->add("LayerNorm", std::make_shared<nn::LayerNorm>(ln));
  seq_relationship_ = cls->add("seq_relationship", std::make_shared<nn::Linear>(H, 2, true, gen));
  register_module("cls", cls);
  mlm_bias_ = predictions->add_parameter("bias", Tensor::zeros({config_.vocab_size}));
  // BERT's initialisation: N(0, 0.02) for weights and embeddings, zero biases.
  for (const auto& [name, p] : named_parameters()) {
    if (name.find("LayerNorm") != std::string::npos) continue;
    Tensor handle = p;
    if (name.ends_with(".bias")) {
      nn::init::zeros_(handle);
    } else {
      nn::init::normal_(handle, 0.0, 0.02, gen);
    }
  }
}

BertOutputs Bert::encode(const Tensor& ids, const Tensor& token_type_ids, const Tensor& attention_mask) {
  if (ids.dim() != 2) throw Error("BERT: token ids must be [batch, time], got " + ids.str());
  const std::int64_t T = ids.size(1);
  if (T == 0) throw Error("BERT: empty sequence " + ids.str());
  if (T > config_.max_position_embeddings) {
    throw Error("BERT: sequence length " + std::to_string(T) + " is above max_position_embeddings " +
                std::to_string(config_.max_position_embeddings));
  }
  if (is_training() && config_.attention_probs_dropout_prob > 0.0) {
    throw Error("BERT: attention dropout (attention_probs_dropout_prob " +
                std::to_string(config_.attention_probs_dropout_prob) +
                ") is not implemented by the fused attention; set it to 0 to train");
  }
  for (const auto& [t, what] : {std::pair{&token_type_ids, "token_type_ids"}, std::pair{&attention_mask, "attention_mask"}}) {
    if (t->defined() && t->shape() != ids.shape()) {
      throw Error(std::string("BERT: ") + what + " " + t->str() + " must have the shape of the ids " + ids.str());
    }
  }
  check_range(ids, config_.vocab_size, "token id");
  if (token_type_ids.defined()) check_range(token_type_ids, config_.type_vocab_size, "token type");
  const Tensor types = token_type_ids.defined() ? token_type_ids : Tensor::zeros(ids.shape(), DType::i64, ids.device());
  const Tensor positions = Tensor::arange(T, DType::i64, ids.device());
  Tensor x = add(add((*word_)(ids), (*position_)(positions)), (*token_type_)(types));
  x = maybe_dropout((*embed_norm_)(x), config_.hidden_dropout_prob, is_training(), *gen_);
  const Tensor key_padding = attention_mask.defined()
                                 ? eq(attention_mask.to(DType::i64), Tensor::scalar(0, DType::i64, ids.device()))
                                 : Tensor();
  for (const auto& layer : layers_) x = layer->forward(x, key_padding);
  const Tensor cls = x.slice(1, 0, 1).view({ids.size(0), config_.hidden_size});
  return {x, tanh((*pooler_)(cls))};
}

Tensor Bert::mlm_logits(const Tensor& hidden) {
  const Tensor t = linear(hidden, mlm_transform_->weight(), mlm_transform_->bias(), LinearActivation::gelu_erf);
  return linear((*mlm_norm_)(t), word_embeddings(), mlm_bias_);
}

Tensor Bert::nsp_logits(const Tensor& pooled) { return (*seq_relationship_)(pooled); }

}  // namespace kiln::models
