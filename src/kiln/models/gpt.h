#pragma once
// GPT: the decoder-only Transformer of GPT-2 (Radford et al. 2019).
//
//   x = wte[ids] + wpe[0..T)            token and learned position embeddings
//   for each block:                     pre-LayerNorm residual blocks
//     x = x + c_proj(attn(c_attn(ln_1(x))))     causal multi-head self-attention
//     x = x + mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(x))))
//   h = ln_f(x);  logits = h · wteᵀ     the output head is tied to wte
//
// Parameter names follow Hugging Face's GPT2Model without the "transformer."
// prefix ("h.0.attn.c_attn.weight"), but every projection keeps kiln's Linear
// layout [out, in]; models/gpt_hf.h converts Hugging Face's Conv1D [in, out].
//
// Training goes through loss(), which never materialises the B·T·V logits
// (ops/lm_head_loss.h); logits() is for inference and tests.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/models/language_model.h"
#include "kiln/nn/embedding.h"
#include "kiln/nn/layer_norm.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/module.h"

namespace kiln::models {

/// Sizes and options of a GPT, set by name. Presets below.
struct GptConfig {
  std::int64_t vocab_size = 50257;
  std::int64_t n_positions = 1024;  ///< the context: longest sequence the model takes
  std::int64_t n_embd = 768;
  std::int64_t n_layer = 12;
  std::int64_t n_head = 12;
  double layer_norm_eps = 1e-5;
  double embd_pdrop = 0.0;   ///< dropout after the embeddings (training only)
  double resid_pdrop = 0.0;  ///< dropout on each block's two residual branches
  /// Dropout on attention probabilities. The fused attention has none, so a
  /// model with attn_pdrop > 0 runs in eval mode only (training throws).
  double attn_pdrop = 0.0;

  /// Throws naming the first size that is not positive or does not divide.
  void validate() const;
  /// "vocab 50257, context 1024, 12 layers, 12 heads, width 768".
  std::string str() const;
  /// Parameters with the tied head counted once.
  std::int64_t num_parameters() const;
  /// Training FLOPs per token at sequence length T (forward + backward, the
  /// usual 6·N plus attention's 6·L·T·C for the causal half, as in the PaLM
  /// paper's MFU accounting).
  double train_flops_per_token(std::int64_t T) const;
};

/// GPT-2 small (124M), medium (350M) and the 2-layer test model of the fixtures.
GptConfig gpt2_small();
GptConfig gpt2_medium();
GptConfig gpt2_tiny();
/// A preset by name ("gpt2", "gpt2-medium", "tiny"); throws listing the names.
GptConfig gpt_preset(const std::string& name);

/// Keys and values of the positions a GPT has already seen, per layer, so each
/// new token costs one position's work (incremental decoding). Appends are
/// in-place writes: they bump the cache's version, so a graph that read an
/// earlier state of the cache cannot run backward on stale values.
struct GptKvCache {
  std::vector<Tensor> k, v;   ///< per layer [B, capacity, C]
  Tensor key_padding;         ///< bool [B, capacity] (true = padding), or undefined: no padding
  std::vector<std::int64_t> next_position;  ///< per row: the position id the next real token gets
  std::int64_t length = 0;    ///< positions filled, in every row

  std::int64_t batch() const { return static_cast<std::int64_t>(next_position.size()); }
  std::int64_t capacity() const { return k.empty() ? 0 : k.front().size(1); }
  /// Beam search: row i of the result is row rows[i] of this cache (rows may
  /// repeat or be left out, so the batch can grow or shrink).
  void reorder(const std::vector<std::int64_t>& rows);
};

class GptBlock : public nn::Module {
 public:
  GptBlock(const GptConfig& config, Generator& gen);
  /// x [B, T, C]; key_padding_mask bool [B, T] (true = padding) or undefined.
  Tensor forward(const Tensor& x, const Tensor& key_padding_mask = Tensor());
  /// Inference on x [B, Tn, C], the Tn positions after the `past` cached ones:
  /// writes their keys and values into k_cache / v_cache [B, S, C] at
  /// [past, past + Tn) and attends over [0, past + Tn).
  Tensor forward_cached(const Tensor& x, const Tensor& k_cache, const Tensor& v_cache, std::int64_t past,
                        const Tensor& key_padding_mask);
  std::string name() const override { return "GptBlock"; }

 private:
  const GptConfig config_;
  Generator* gen_;  // not owned: dropout masks
  std::shared_ptr<nn::LayerNorm> ln_1_, ln_2_;
  std::shared_ptr<nn::Linear> c_attn_, attn_proj_, c_fc_, mlp_proj_;
};

class Gpt : public LanguageModel {
 public:
  /// Random GPT-2 initialisation: N(0, 0.02) weights, residual projections
  /// scaled by 1/√(2·n_layer), zero biases, unit LayerNorm gains. `gen` must
  /// outlive the model (dropout draws from it).
  Gpt(const GptConfig& config, Generator& gen);

  const GptConfig& config() const { return config_; }
  std::string name() const override { return "Gpt(" + config_.str() + ")"; }

  /// ids i64 [B, T] → final hidden states [B, T, C] (after ln_f). T above the
  /// context or an id outside the vocabulary is refused naming the value.
  ///
  /// attention_mask (optional, [B, T], nonzero = real token, 0 = padding) works
  /// as in Hugging Face: padded keys are hidden from every query, and position
  /// ids count real tokens only (cumsum(mask) − 1, padding at position 1).
  Tensor hidden(const Tensor& ids, const Tensor& attention_mask = Tensor());
  /// Logits [B, T, V] (the tied head over every position).
  Tensor logits(const Tensor& ids, const Tensor& attention_mask = Tensor());
  /// Mean next-token cross-entropy over every position of targets i64 [B, T]
  /// (positions equal to ignore_index are skipped), without the B·T·V logits.
  Tensor loss(const Tensor& ids, const Tensor& targets, std::int64_t ignore_index = -100) override;
  std::int64_t vocab_size() const override { return config_.vocab_size; }
  std::int64_t context_length() const override { return config_.n_positions; }
  double train_flops_per_token(std::int64_t T) const override { return config_.train_flops_per_token(T); }
  std::string describe() const override { return "GPT (" + config_.str() + ")"; }

  const Tensor& wte() const { return wte_->weight(); }

  /// An empty cache for `batch` rows of up to `capacity` positions (0: the
  /// whole context), in the weights' dtype and device.
  GptKvCache make_cache(std::int64_t batch, std::int64_t capacity = 0) const;
  /// Incremental inference (no autograd): runs ids [B, Tn] as the positions
  /// after those in `cache`, appends them to it, and returns the logits of the
  /// last new position [B, V]. attention_mask [B, Tn] (nonzero = real, 0 =
  /// padding, Hugging Face semantics as in hidden()) is for a left-padded
  /// batch of prompts; later calls may omit it (all real). Refuses ids that
  /// would overflow the cache, naming both lengths.
  Tensor decode(const Tensor& ids, GptKvCache& cache, const Tensor& attention_mask = Tensor());

 private:
  const GptConfig config_;
  Generator* gen_;
  std::shared_ptr<nn::Embedding> wte_, wpe_;
  std::vector<std::shared_ptr<GptBlock>> blocks_;
  std::shared_ptr<nn::LayerNorm> ln_f_;
};

/// Greedy decoding: appends `new_tokens` argmax tokens to prompt ids [1, T0]
/// (the window slides when the context is full) and returns [1, T0 + new_tokens].
/// attention_mask [1, T0] marks the prompt's padding as in Hugging Face's
/// generate(); generated tokens are always real.
Tensor generate_greedy(Gpt& model, const Tensor& prompt, std::int64_t new_tokens,
                       const Tensor& attention_mask = Tensor());

}  // namespace kiln::models
