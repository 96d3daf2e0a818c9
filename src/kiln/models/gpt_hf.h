#pragma once
// Hugging Face GPT-2 checkpoints (a directory with config.json and
// model.safetensors, as `save_pretrained` writes them) to and from kiln's GPT.
//
// Hugging Face keeps GPT-2's projections as Conv1D with weights [in, out];
// kiln's Linear is [out, in], so those four weights per block are transposed
// on the way in and out. Names lose the "transformer." prefix; the tied
// "lm_head.weight" (when present) must equal wte and is not loaded twice.
#include <filesystem>
#include <memory>

#include "kiln/core/rng.h"
#include "kiln/models/gpt.h"
#include "kiln/nn/state_dict.h"
#include "kiln/text/bpe_tokenizer.h"

namespace kiln::models {

/// Reads config.json; refuses options kiln's GPT does not implement (other
/// activations, untied heads, scaled or reordered attention), naming the key.
GptConfig read_hf_gpt2_config(const std::filesystem::path& config_json);

/// The checkpoint's tensors renamed and transposed to kiln's layout.
nn::StateDict read_hf_gpt2_weights(const std::filesystem::path& model_safetensors);

/// A model built from `dir`/config.json with `dir`/model.safetensors loaded
/// (strict: every tensor present, every shape checked and named on mismatch).
std::unique_ptr<Gpt> load_hf_gpt2(const std::filesystem::path& dir, Generator& gen);

/// Writes `model` as a Hugging Face GPT2LMHeadModel directory: config.json and
/// model.safetensors (Conv1D weights transposed back to [in, out], the head
/// tied, metadata format "pt"), plus tokenizer.json and tokenizer_config.json
/// when `tokenizer` is given. Each file is written atomically; `dir` is created.
/// load_hf_gpt2 reads it back bit for bit.
void save_hf_gpt2(const Gpt& model, const std::filesystem::path& dir, const text::BpeTokenizer* tokenizer = nullptr);

}  // namespace kiln::models
