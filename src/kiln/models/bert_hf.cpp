#include "kiln/models/bert_hf.h"

#include <fstream>
#include <span>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "kiln/io/file_util.h"
#include "kiln/io/safetensors.h"
#include "kiln/models/hf_config.h"
#include "kiln/ops/ops.h"

namespace kiln::models {

BertConfig read_hf_bert_config(const std::filesystem::path& path) {
  const HfConfig cfg(path, "BERT");
  const nlohmann::json& j = cfg.json();
  const auto fail = [&](const std::string& msg) { cfg.fail(msg); };
  const auto get_int = [&](const char* key) { return cfg.integer(key); };
  const auto get_double = [&](const char* key, double fallback) { return cfg.number(key, fallback); };
  cfg.expect_model_type("bert");
  const std::string act = j.value("hidden_act", std::string("gelu"));
  if (act != "gelu") fail("hidden_act \"" + act + "\" is not supported (BERT's exact GELU, \"gelu\", is)");
  const std::string pos = j.value("position_embedding_type", std::string("absolute"));
  if (pos != "absolute") fail("position_embedding_type \"" + pos + "\" is not supported (only absolute)");
  if (!j.value("tie_word_embeddings", true)) fail("tie_word_embeddings false is not supported: kiln's MLM decoder is tied");
  if (j.value("is_decoder", false)) fail("is_decoder true is not supported: kiln's BERT is an encoder");
  BertConfig c{
      .vocab_size = get_int("vocab_size"),
      .hidden_size = get_int("hidden_size"),
      .num_hidden_layers = get_int("num_hidden_layers"),
      .num_attention_heads = get_int("num_attention_heads"),
      .intermediate_size = get_int("intermediate_size"),
      .max_position_embeddings = get_int("max_position_embeddings"),
      .type_vocab_size = j.contains("type_vocab_size") ? get_int("type_vocab_size") : 2,
      .layer_norm_eps = get_double("layer_norm_eps", 1e-12),
      .hidden_dropout_prob = get_double("hidden_dropout_prob", 0.1),
      .attention_probs_dropout_prob = get_double("attention_probs_dropout_prob", 0.1),
  };
  cfg.validate(c);
  return c;
}

nn::StateDict read_hf_bert_weights(const std::filesystem::path& path) {
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  nn::StateDict out;
  Tensor word, decoder;
  for (const auto& entry : file.entries()) {
    std::string name = entry.name;
    if (name.starts_with("bert.")) name = name.substr(5);
    if (name == "embeddings.position_ids") continue;  // a buffer of 0..P-1 in older checkpoints
    Tensor t = file.tensor(entry.name);
    if (name == "cls.predictions.decoder.weight") {
      decoder = t;
      continue;
    }
    if (name == "cls.predictions.decoder.bias") continue;  // the same tensor as cls.predictions.bias
    if (name == "embeddings.word_embeddings.weight") word = t;
    out.add(name, t);
  }
  if (decoder.defined() && word.defined()) {
    NoGradGuard no_grad;
    if (decoder.shape() != word.shape() || max(abs(sub(decoder.to(DType::f32), word.to(DType::f32)))).item() != 0.0) {
      throw Error(path.string() + ": cls.predictions.decoder.weight differs from the word embeddings; kiln's BERT ties them");
    }
  }
  return out;
}

std::unique_ptr<Bert> load_hf_bert(const std::filesystem::path& dir, Generator& gen, bool* heads_loaded) {
  auto model = std::make_unique<Bert>(read_hf_bert_config(dir / "config.json"), gen);
  const nn::StateDict weights = read_hf_bert_weights(dir / "model.safetensors");
  // A checkpoint without heads (BertModel) loads the encoder only.
  bool has_heads = false;
  for (const auto& [name, t] : weights.entries()) has_heads = has_heads || name.starts_with("cls.");
  const nn::StateDict mine = model->state_dict();
  nn::StateDict wanted;
  for (const auto& [name, t] : mine.entries()) {
    if (has_heads || !name.starts_with("cls.")) {
      const Tensor* src = weights.find(name);
      if (src != nullptr) wanted.add(name, *src);
    }
  }
  for (const auto& [name, t] : weights.entries()) {
    if (mine.find(name) == nullptr) {
      throw Error((dir / "model.safetensors").string() + ": unexpected tensor " + name + " (not part of kiln's BERT)");
    }
  }
  try {
    model->load_state_dict(wanted, /*strict=*/false);
    // Strictness by hand: every encoder tensor (and the heads when present) must have come.
    for (const auto& [name, t] : mine.entries()) {
      if ((has_heads || !name.starts_with("cls.")) && weights.find(name) == nullptr) throw Error("missing tensor " + name);
    }
  } catch (const Error& e) {
    throw Error((dir / "model.safetensors").string() + ": " + e.what());
  }
  if (heads_loaded != nullptr) *heads_loaded = has_heads;
  return model;
}

void save_hf_bert(const Bert& model, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create the model directory " + dir.string() + ": " + ec.message());
  const BertConfig& c = model.config();
  const nlohmann::json config = {
      {"architectures", {"BertForPreTraining"}},
      {"model_type", "bert"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"type_vocab_size", c.type_vocab_size},
      {"hidden_act", "gelu"},
      {"layer_norm_eps", c.layer_norm_eps},
      {"hidden_dropout_prob", c.hidden_dropout_prob},
      {"attention_probs_dropout_prob", c.attention_probs_dropout_prob},
      {"position_embedding_type", "absolute"},
      {"initializer_range", 0.02},
      {"pad_token_id", 0},
      {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},
  };
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    NoGradGuard no_grad;
    for (const auto& [name, p] : model.named_parameters()) {
      tensors.emplace_back(name.starts_with("cls.") ? name : "bert." + name, p.detach().to(DType::f32).contiguous());
    }
  }
  io::save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  write_hf_json(dir / "config.json", config);
}

}  // namespace kiln::models
