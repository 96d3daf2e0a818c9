#pragma once
// Hugging Face BERT checkpoints (config.json + model.safetensors of
// BertForPreTraining, BertForMaskedLM or BertModel) to and from kiln's BERT.
// Names lose or gain the "bert." prefix; Linear layouts agree, so tensors are
// copied as they are. The MLM decoder is tied to the word embeddings
// ("cls.predictions.decoder.weight", when present, must equal them).
#include <filesystem>
#include <memory>

#include "kiln/core/rng.h"
#include "kiln/models/bert.h"
#include "kiln/nn/state_dict.h"

namespace kiln::models {

/// Reads config.json; refuses what kiln's BERT does not implement (other
/// activations, relative position embeddings, untied decoders), naming the key.
BertConfig read_hf_bert_config(const std::filesystem::path& config_json);

/// The checkpoint's tensors under kiln's names. A BertModel checkpoint (no
/// heads) gives only the encoder's; see load_hf_bert.
nn::StateDict read_hf_bert_weights(const std::filesystem::path& model_safetensors);

/// A model from `dir`/config.json with `dir`/model.safetensors loaded. Every
/// encoder tensor must be present and every shape matches (named on error);
/// when the checkpoint has no pretraining heads they keep their random
/// initialisation and `heads_loaded` (if given) is set false.
std::unique_ptr<Bert> load_hf_bert(const std::filesystem::path& dir, Generator& gen, bool* heads_loaded = nullptr);

/// Writes `model` as a Hugging Face BertForPreTraining directory (config.json,
/// model.safetensors with metadata format "pt"), each file atomically.
void save_hf_bert(const Bert& model, const std::filesystem::path& dir);

}  // namespace kiln::models
