#include "kiln/models/gpt_hf.h"

#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "kiln/io/file_util.h"
#include "kiln/io/safetensors.h"
#include "kiln/models/hf_config.h"
#include "kiln/ops/ops.h"

namespace kiln::models {

namespace {

bool is_conv1d_weight(const std::string& name) {
  return name.ends_with("attn.c_attn.weight") || name.ends_with("attn.c_proj.weight") ||
         name.ends_with("mlp.c_fc.weight") || name.ends_with("mlp.c_proj.weight");
}

}  // namespace

GptConfig read_hf_gpt2_config(const std::filesystem::path& path) {
  const HfConfig cfg(path, "GPT-2");
  const nlohmann::json& j = cfg.json();
  const auto fail = [&](const std::string& msg) { cfg.fail(msg); };
  const auto get_int = [&](const char* key) { return cfg.integer(key); };
  const auto get_double = [&](const char* key, double fallback) { return cfg.number(key, fallback); };
  cfg.expect_model_type("gpt2");
  const std::string act = j.value("activation_function", std::string("gelu_new"));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    fail("activation_function \"" + act + "\" is not supported (GPT-2's tanh GELU, gelu_new, is)");
  }
  if (!j.value("tie_word_embeddings", true)) fail("tie_word_embeddings false is not supported: kiln's GPT ties its head");
  if (j.value("scale_attn_by_inverse_layer_idx", false)) fail("scale_attn_by_inverse_layer_idx is not supported");
  if (j.value("reorder_and_upcast_attn", false)) fail("reorder_and_upcast_attn is not supported");
  if (!j.value("scale_attn_weights", true)) fail("scale_attn_weights false is not supported");
  GptConfig c{
      .vocab_size = get_int("vocab_size"),
      .n_positions = get_int("n_positions"),
      .n_embd = get_int("n_embd"),
      .n_layer = get_int("n_layer"),
      .n_head = get_int("n_head"),
      .layer_norm_eps = get_double("layer_norm_epsilon", 1e-5),
      .embd_pdrop = get_double("embd_pdrop", 0.0),
      .resid_pdrop = get_double("resid_pdrop", 0.0),
      .attn_pdrop = get_double("attn_pdrop", 0.0),
  };
  if (j.contains("n_inner") && !j["n_inner"].is_null()) {
    if (!j["n_inner"].is_number_integer() || j["n_inner"].get<std::int64_t>() != 4 * c.n_embd) {
      fail("n_inner " + j["n_inner"].dump() + " is not supported (only 4·n_embd)");
    }
  }
  cfg.validate(c);
  return c;
}

nn::StateDict read_hf_gpt2_weights(const std::filesystem::path& path) {
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  nn::StateDict out;
  Tensor wte, lm_head;
  for (const auto& entry : file.entries()) {
    std::string name = entry.name;
    if (name.starts_with("transformer.")) name = name.substr(12);
    // Old checkpoints carry the causal mask as buffers; kiln's attention needs none.
    if (name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias")) continue;
    Tensor t = file.tensor(entry.name);
    if (name == "lm_head.weight") {
      lm_head = t;
      continue;
    }
    if (is_conv1d_weight(name)) {
      if (t.dim() != 2) throw Error(path.string() + ": " + entry.name + " must be 2-d, got " + t.str());
      t = t.t().contiguous();
    }
    if (name == "wte.weight") wte = t;
    out.add(name, t);
  }
  if (lm_head.defined() && wte.defined()) {
    NoGradGuard no_grad;
    if (lm_head.shape() != wte.shape() || max(abs(sub(lm_head.to(DType::f32), wte.to(DType::f32)))).item() != 0.0) {
      throw Error(path.string() + ": lm_head.weight differs from transformer.wte.weight; kiln's GPT ties its head");
    }
  }
  return out;
}

std::unique_ptr<Gpt> load_hf_gpt2(const std::filesystem::path& dir, Generator& gen) {
  auto model = std::make_unique<Gpt>(read_hf_gpt2_config(dir / "config.json"), gen);
  const nn::StateDict weights = read_hf_gpt2_weights(dir / "model.safetensors");
  try {
    model->load_state_dict(weights, /*strict=*/true);
  } catch (const Error& e) {
    throw Error((dir / "model.safetensors").string() + ": " + e.what());
  }
  return model;
}

namespace {


}  // namespace

void save_hf_gpt2(const Gpt& model, const std::filesystem::path& dir, const text::BpeTokenizer* tokenizer) {
  const GptConfig& c = model.config();
  std::optional<std::int64_t> eot;
  if (tokenizer != nullptr) {
    if (static_cast<std::int64_t>(tokenizer->vocab_size()) > c.vocab_size) {
      throw Error("Hugging Face export: the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                  " tokens, more than the model's vocabulary of " + std::to_string(c.vocab_size));
    }
    if (const auto id = tokenizer->token_to_id("<|endoftext|>")) eot = static_cast<std::int64_t>(*id);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create the model directory " + dir.string() + ": " + ec.message());
  nlohmann::json config = {
      {"architectures", {"GPT2LMHeadModel"}},
      {"model_type", "gpt2"},
      {"vocab_size", c.vocab_size},
      {"n_positions", c.n_positions},
      {"n_ctx", c.n_positions},
      {"n_embd", c.n_embd},
      {"n_layer", c.n_layer},
      {"n_head", c.n_head},
      {"n_inner", nullptr},
      {"activation_function", "gelu_new"},
      {"layer_norm_epsilon", c.layer_norm_eps},
      {"embd_pdrop", c.embd_pdrop},
      {"resid_pdrop", c.resid_pdrop},
      {"attn_pdrop", c.attn_pdrop},
      {"initializer_range", 0.02},
      {"scale_attn_weights", true},
      {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},
  };
  if (eot) {
    config["bos_token_id"] = *eot;
    config["eos_token_id"] = *eot;
  }
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    NoGradGuard no_grad;
    for (const auto& [name, p] : model.named_parameters()) {
      Tensor t = p.detach().to(DType::f32);
      if (is_conv1d_weight(name)) t = t.t().contiguous();
      tensors.emplace_back(name, t);
    }
  }
  io::save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  write_hf_json(dir / "config.json", config);
  if (tokenizer != nullptr) {
    tokenizer->save_tokenizer_json((dir / "tokenizer.json").string());
    nlohmann::json tc = {{"tokenizer_class", "GPT2Tokenizer"}, {"model_max_length", c.n_positions},
                         {"add_prefix_space", false}};
    if (eot) {
      for (const char* key : {"bos_token", "eos_token", "unk_token"}) tc[key] = "<|endoftext|>";
    }
    write_hf_json(dir / "tokenizer_config.json", tc);
  }
}

}  // namespace kiln::models
