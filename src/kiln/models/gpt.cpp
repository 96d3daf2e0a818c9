#include "kiln/models/gpt.h"

#include <cmath>
#include <string>

#include "kiln/nn/init.h"
#include "kiln/nn/module_group.h"
#include "kiln/ops/lm_head_loss.h"
#include "kiln/ops/ops.h"

namespace kiln::models {

namespace {

void require_positive(std::int64_t v, const char* what) {
  if (v <= 0) throw Error(std::string("GPT config: ") + what + " must be positive, got " + std::to_string(v));
}

void init_normal(const Tensor& t, double std, Generator& gen) {
  Tensor handle = t;
  nn::init::normal_(handle, 0.0, std, gen);
}

void init_zero(const Tensor& t) {
  if (!t.defined()) return;
  Tensor handle = t;
  nn::init::zeros_(handle);
}

Tensor maybe_dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return (p > 0.0 && training) ? dropout(x, p, true, gen) : x;
}

}  // namespace

void GptConfig::validate() const {
  require_positive(vocab_size, "vocab_size");
  require_positive(n_positions, "n_positions");
  require_positive(n_embd, "n_embd");
  require_positive(n_layer, "n_layer");
  require_positive(n_head, "n_head");
  if (n_embd % n_head != 0) {
    throw Error("GPT config: n_embd " + std::to_string(n_embd) + " is not divisible by n_head " +
                std::to_string(n_head));
  }
  if (!(layer_norm_eps > 0.0)) throw Error("GPT config: layer_norm_eps must be positive");
  for (const auto& [p, name] : {std::pair{embd_pdrop, "embd_pdrop"}, std::pair{resid_pdrop, "resid_pdrop"},
                               std::pair{attn_pdrop, "attn_pdrop"}}) {
    if (!(p >= 0.0 && p < 1.0)) throw Error(std::string("GPT config: ") + name + " must be in [0, 1), got " + std::to_string(p));
  }
}

std::string GptConfig::str() const {
  return "vocab " + std::to_string(vocab_size) + ", context " + std::to_string(n_positions) + ", " +
         std::to_string(n_layer) + " layers, " + std::to_string(n_head) + " heads, width " + std::to_string(n_embd);
}

std::int64_t GptConfig::num_parameters() const {
  const std::int64_t C = n_embd;
  const std::int64_t per_block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
  return vocab_size * C + n_positions * C + n_layer * per_block + 2 * C;
}

double GptConfig::train_flops_per_token(std::int64_t T) const {
  // Every weight but the position table takes part in a matmul (wte as the
  // tied head): 2 FLOPs per weight forward, 4 backward. Attention adds QKᵀ and
  // PV, 2·T·C each per layer forward over the full square, halved by causality.
  const double n = static_cast<double>(num_parameters() - n_positions * n_embd);
  const double attn = 6.0 * static_cast<double>(n_layer) * static_cast<double>(n_embd) * static_cast<double>(T);
  return 6.0 * n + attn;
}

GptConfig gpt2_small() { return GptConfig{}; }
GptConfig gpt2_medium() { return GptConfig{.n_embd = 1024, .n_layer = 24, .n_head = 16}; }
GptConfig gpt2_tiny() { return GptConfig{.n_positions = 64, .n_embd = 32, .n_layer = 2, .n_head = 4}; }

GptConfig gpt_preset(const std::string& name) {
  if (name == "gpt2") return gpt2_small();
  if (name == "gpt2-medium") return gpt2_medium();
  if (name == "tiny") return gpt2_tiny();
  throw Error("unknown GPT preset \"" + name + "\" (known: gpt2, gpt2-medium, tiny)");
}

GptBlock::GptBlock(const GptConfig& config, Generator& gen) : config_(config), gen_(&gen) {
  const std::int64_t C = config.n_embd;
  const nn::LayerNormOptions ln{.normalized_shape = {C}, .eps = config.layer_norm_eps};
  ln_1_ = register_module("ln_1", std::make_shared<nn::LayerNorm>(ln));
  // Registered under attn.* and mlp.* through holder modules so the names
  // match Hugging Face's ("h.0.attn.c_attn.weight").
  auto attn_holder = std::make_shared<nn::ModuleGroup>("Attention");
  c_attn_ = std::make_shared<nn::Linear>(C, 3 * C, true, gen);
  attn_proj_ = std::make_shared<nn::Linear>(C, C, true, gen);
  attn_holder->add("c_attn", c_attn_);
  attn_holder->add("c_proj", attn_proj_);
  register_module("attn", attn_holder);
  ln_2_ = register_module("ln_2", std::make_shared<nn::LayerNorm>(ln));
  auto mlp_holder = std::make_shared<nn::ModuleGroup>("Mlp");
  c_fc_ = std::make_shared<nn::Linear>(C, 4 * C, true, gen);
  mlp_proj_ = std::make_shared<nn::Linear>(4 * C, C, true, gen);
  mlp_holder->add("c_fc", c_fc_);
  mlp_holder->add("c_proj", mlp_proj_);
  register_module("mlp", mlp_holder);
}

Tensor GptBlock::forward(const Tensor& x, const Tensor& key_padding_mask) {
  const bool training = is_training();
  const Tensor qkv = (*c_attn_)((*ln_1_)(x));  // [B, T, 3C]
  const Tensor y = causal_self_attention_qkv(qkv, config_.n_head, key_padding_mask);  // fused, [B, T, C]
  Tensor h = add(x, maybe_dropout((*attn_proj_)(y), config_.resid_pdrop, training, *gen_));
  // GELU in the GEMM's epilogue when no gradient is needed (inference).
  const Tensor a = linear((*ln_2_)(h), c_fc_->weight(), c_fc_->bias(), LinearActivation::gelu_tanh);
  const Tensor m = (*mlp_proj_)(a);
  return add(h, maybe_dropout(m, config_.resid_pdrop, training, *gen_));
}

Tensor GptBlock::forward_cached(const Tensor& x, const Tensor& k_cache, const Tensor& v_cache, std::int64_t past,
                               const Tensor& key_padding_mask) {
  const std::int64_t B = x.size(0), Tn = x.size(1), C = config_.n_embd, H = config_.n_head, d = C / H;
  const std::int64_t L = past + Tn;
  const Tensor qkv = (*c_attn_)((*ln_1_)(x));  // [B, Tn, 3C]
  Tensor k_slot = k_cache.slice(1, past, L), v_slot = v_cache.slice(1, past, L);
  copy_(k_slot, qkv.slice(2, C, 2 * C));
  copy_(v_slot, qkv.slice(2, 2 * C, 3 * C));
  // [B, T, C] -> [B, H, T, d] as strided views: the fused attention reads them in place.
  const auto heads = [&](const Tensor& t, std::int64_t T) { return t.view({B, T, H, d}).permute({0, 2, 1, 3}); };
  const Tensor q = heads(qkv.slice(2, 0, C), Tn);
  const Tensor keys = heads(k_cache.slice(1, 0, L), L);
  const Tensor values = heads(v_cache.slice(1, 0, L), L);
  const Tensor mask = key_padding_mask.defined() ? key_padding_mask.slice(1, 0, L) : Tensor();
  // Bottom-right causal alignment: new position i sees keys [0, past + i].
  const Tensor y = scaled_dot_product_attention(q, keys, values, /*causal=*/true, mask);  // [B, H, Tn, d]
  const Tensor h = add(x, (*attn_proj_)(y.permute({0, 2, 1, 3}).contiguous().view({B, Tn, C})));
  const Tensor a = linear((*ln_2_)(h), c_fc_->weight(), c_fc_->bias(), LinearActivation::gelu_tanh);
  return add(h, (*mlp_proj_)(a));
}

void GptKvCache::reorder(const std::vector<std::int64_t>& rows) {
  if (rows.empty()) throw Error("KV cache reorder: no rows given");
  std::vector<std::int64_t> positions(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= batch()) {
      throw Error("KV cache reorder: row " + std::to_string(rows[i]) + " is outside [0, " + std::to_string(batch()) + ")");
    }
    positions[i] = next_position[static_cast<std::size_t>(rows[i])];
  }
  NoGradGuard no_grad;
  const Tensor index = Tensor::from_vector(rows, {static_cast<std::int64_t>(rows.size())});
  for (auto* layer : {&k, &v}) {
    for (Tensor& t : *layer) t = index_select(t, 0, index.to(t.device()));
  }
  if (key_padding.defined()) key_padding = index_select(key_padding, 0, index.to(key_padding.device()));
  next_position = std::move(positions);
}

Gpt::Gpt(const GptConfig& config, Generator& gen) : config_(config), gen_(&gen) {
  config_.validate();
  const std::int64_t C = config_.n_embd;
  wte_ = register_module("wte", std::make_shared<nn::Embedding>(
                                    nn::EmbeddingOptions{.num_embeddings = config_.vocab_size, .embedding_dim = C}, gen));
  wpe_ = register_module("wpe", std::make_shared<nn::Embedding>(
                                    nn::EmbeddingOptions{.num_embeddings = config_.n_positions, .embedding_dim = C}, gen));
  auto h = std::make_shared<nn::ModuleGroup>("ModuleList");
  for (std::int64_t i = 0; i < config_.n_layer; ++i) {
    blocks_.push_back(std::make_shared<GptBlock>(config_, gen));
    h->add(std::to_string(i), blocks_.back());
  }
  register_module("h", h);
  ln_f_ = register_module("ln_f", std::make_shared<nn::LayerNorm>(
                                      nn::LayerNormOptions{.normalized_shape = {C}, .eps = config_.layer_norm_eps}));
  // GPT-2's initialisation (as in its TensorFlow code and nanoGPT).
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config_.n_layer));
  for (const auto& [name, p] : named_parameters()) {
    const bool is_bias = name.ends_with(".bias");
    if (name.find("ln_") != std::string::npos) continue;  // LayerNorm: ones and zeros already
    if (is_bias) {
      init_zero(p);
    } else {
      init_normal(p, name.ends_with("c_proj.weight") ? residual_std : 0.02, gen);
    }
  }
}

Tensor Gpt::hidden(const Tensor& ids, const Tensor& attention_mask) {
  if (ids.dim() != 2) throw Error("GPT: token ids must be [batch, time], got " + ids.str());
  const std::int64_t T = ids.size(1);
  if (T > config_.n_positions) {
    throw Error("GPT: sequence length " + std::to_string(T) + " is above the model's context of " +
                std::to_string(config_.n_positions) + " positions");
  }
  if (T == 0) throw Error("GPT: empty sequence " + ids.str());
  if (is_training() && config_.attn_pdrop > 0.0) {
    throw Error("GPT: attention dropout (attn_pdrop " + std::to_string(config_.attn_pdrop) +
                ") is not implemented by the fused attention; set attn_pdrop = 0 to train");
  }
  Tensor positions = Tensor::arange(T, DType::i64, ids.device());
  Tensor key_padding;
  if (attention_mask.defined()) {
    if (attention_mask.shape() != ids.shape()) {
      throw Error("GPT: attention_mask " + attention_mask.str() + " must have the shape of the ids " + ids.str());
    }
    // Hugging Face's position ids under a mask: real tokens count 0, 1, 2, ...
    // and padding sits at position 1. Built on the host: masks are small.
    const std::vector<std::int64_t> mask = attention_mask.to_vector<std::int64_t>();
    std::vector<std::int64_t> pos(mask.size());
    std::vector<std::uint8_t> pad(mask.size());
    for (std::int64_t b = 0; b < ids.size(0); ++b) {
      std::int64_t seen = 0;
      for (std::int64_t t = 0; t < T; ++t) {
        const std::size_t i = static_cast<std::size_t>(b * T + t);
        seen += mask[i] != 0 ? 1 : 0;
        pos[i] = mask[i] != 0 ? seen - 1 : 1;
        pad[i] = mask[i] == 0 ? 1 : 0;
      }
    }
    positions = Tensor::from_vector(pos, ids.shape());
    key_padding = ne(Tensor::from_vector(std::vector<std::int64_t>(pad.begin(), pad.end()), ids.shape()),
                     Tensor::scalar(0, DType::i64));
  }
  Tensor x = add((*wte_)(ids), (*wpe_)(positions));
  x = maybe_dropout(x, config_.embd_pdrop, is_training(), *gen_);
  for (const auto& block : blocks_) x = block->forward(x, key_padding);
  return (*ln_f_)(x);
}

GptKvCache Gpt::make_cache(std::int64_t batch, std::int64_t capacity) const {
  if (batch <= 0) throw Error("GPT: a KV cache needs at least one row, got " + std::to_string(batch));
  if (capacity <= 0) capacity = config_.n_positions;
  if (capacity > config_.n_positions) {
    throw Error("GPT: KV cache capacity " + std::to_string(capacity) + " is above the model's context of " +
                std::to_string(config_.n_positions));
  }
  GptKvCache cache;
  const Tensor& w = wte();
  for (std::int64_t i = 0; i < config_.n_layer; ++i) {
    cache.k.push_back(Tensor::empty({batch, capacity, config_.n_embd}, w.dtype(), w.device()));
    cache.v.push_back(Tensor::empty({batch, capacity, config_.n_embd}, w.dtype(), w.device()));
  }
  cache.next_position.assign(static_cast<std::size_t>(batch), 0);
  return cache;
}

Tensor Gpt::decode(const Tensor& ids, GptKvCache& cache, const Tensor& attention_mask) {
  NoGradGuard no_grad;
  if (ids.dim() != 2 || ids.size(0) != cache.batch()) {
    throw Error("GPT decode: ids must be [" + std::to_string(cache.batch()) + ", T] for this cache, got " + ids.str());
  }
  if (static_cast<std::int64_t>(cache.k.size()) != config_.n_layer) {
    throw Error("GPT decode: the cache has " + std::to_string(cache.k.size()) + " layers, the model " +
                std::to_string(config_.n_layer) + "; make it with this model's make_cache()");
  }
  const std::int64_t B = ids.size(0), Tn = ids.size(1), past = cache.length;
  if (Tn == 0) throw Error("GPT decode: no new tokens in " + ids.str());
  if (past + Tn > cache.capacity()) {
    throw Error("GPT decode: " + std::to_string(past) + " cached + " + std::to_string(Tn) +
                " new positions exceed the cache's " + std::to_string(cache.capacity()) +
                " (the model's context is " + std::to_string(config_.n_positions) + ")");
  }
  if (attention_mask.defined() && attention_mask.shape() != ids.shape()) {
    throw Error("GPT decode: attention_mask " + attention_mask.str() + " must have the shape of the ids " + ids.str());
  }
  // Position ids continue each row's count of real tokens (Hugging Face's
  // cumsum(mask) - 1; padding sits at position 1). Host-side: B·Tn values.
  const std::vector<std::int64_t> mask =
      attention_mask.defined() ? attention_mask.to_vector<std::int64_t>() : std::vector<std::int64_t>(static_cast<std::size_t>(B * Tn), 1);
  std::vector<std::int64_t> pos(mask.size());
  std::vector<std::int64_t> pad(mask.size());
  bool any_pad = false;
  for (std::int64_t b = 0; b < B; ++b) {
    std::int64_t& next = cache.next_position[static_cast<std::size_t>(b)];
    for (std::int64_t t = 0; t < Tn; ++t) {
      const std::size_t i = static_cast<std::size_t>(b * Tn + t);
      pos[i] = mask[i] != 0 ? next++ : 1;
      pad[i] = mask[i] == 0 ? 1 : 0;
      any_pad = any_pad || mask[i] == 0;
    }
  }
  if (any_pad && !cache.key_padding.defined()) {
    cache.key_padding = Tensor::zeros({B, cache.capacity()}, DType::boolean, ids.device());
  }
  if (cache.key_padding.defined()) {
    Tensor slot = cache.key_padding.slice(1, past, past + Tn);
    copy_(slot, ne(Tensor::from_vector(pad, {B, Tn}), Tensor::scalar(0, DType::i64)).to(ids.device()));
  }
  Tensor x = add((*wte_)(ids), (*wpe_)(Tensor::from_vector(pos, {B, Tn}).to(ids.device())));
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    x = blocks_[i]->forward_cached(x, cache.k[i], cache.v[i], past, cache.key_padding);
  }
  cache.length = past + Tn;
  const Tensor last = (*ln_f_)(x.slice(1, Tn - 1, Tn)).view({B, config_.n_embd});
  return linear(last, wte(), Tensor());  // the tied head as a linear: the decoding GEMV, autocast's bf16 copy
}

Tensor Gpt::logits(const Tensor& ids, const Tensor& attention_mask) {
  return matmul(hidden(ids, attention_mask), wte().t());
}

Tensor Gpt::loss(const Tensor& ids, const Tensor& targets, std::int64_t ignore_index) {
  if (targets.shape() != ids.shape()) {
    throw Error("GPT: targets " + targets.str() + " must have the shape of the inputs " + ids.str());
  }
  const Tensor h = hidden(ids);
  const std::int64_t rows = h.size(0) * h.size(1);
  return lm_head_cross_entropy(h.reshape({rows, config_.n_embd}), wte(), targets.reshape({rows}),
                               {.ignore_index = ignore_index});
}

Tensor generate_greedy(Gpt& model, const Tensor& prompt, std::int64_t new_tokens, const Tensor& attention_mask) {
  if (prompt.dim() != 2 || prompt.size(0) != 1) throw Error("generate_greedy: prompt must be [1, T], got " + prompt.str());
  if (attention_mask.defined() && attention_mask.shape() != prompt.shape()) {
    throw Error("generate_greedy: attention_mask " + attention_mask.str() + " must have the prompt's shape " + prompt.str());
  }
  NoGradGuard no_grad;
  std::vector<std::int64_t> ids = prompt.to_vector<std::int64_t>();
  std::vector<std::int64_t> mask = attention_mask.defined() ? attention_mask.to_vector<std::int64_t>()
                                                            : std::vector<std::int64_t>(ids.size(), 1);
  const std::int64_t ctx = model.config().n_positions;
  for (std::int64_t i = 0; i < new_tokens; ++i) {
    const std::int64_t n = static_cast<std::int64_t>(ids.size());
    const std::int64_t start = std::max<std::int64_t>(0, n - ctx);
    const std::vector<std::int64_t> window(ids.begin() + start, ids.end());
    const Tensor input = Tensor::from_vector(window, {1, n - start});
    const Tensor window_mask = attention_mask.defined()
        ? Tensor::from_vector(std::vector<std::int64_t>(mask.begin() + start, mask.end()), {1, n - start})
        : Tensor();
    const Tensor h = model.hidden(input, window_mask).slice(1, n - start - 1, n - start);  // last position only
    const Tensor next = argmax(matmul(h, model.wte().t()), -1);
    ids.push_back(next.to_vector<std::int64_t>()[0]);
    mask.push_back(1);
  }
  return Tensor::from_vector(ids, {1, static_cast<std::int64_t>(ids.size())});
}

}  // namespace kiln::models
