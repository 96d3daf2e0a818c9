#include "kiln/models/gpt_gguf.h"

#include <cstring>
#include <string>
#include <vector>

#include "kiln/ops/ops.h"

namespace kiln::models {

namespace {

// kiln parameter name -> GGUF tensor name (llama.cpp's gpt2 tensor map).
std::string gguf_name(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> kBlock = {
      {"ln_1.", "attn_norm."},          {"attn.c_attn.", "attn_qkv."}, {"attn.c_proj.", "attn_output."},
      {"ln_2.", "ffn_norm."},           {"mlp.c_fc.", "ffn_up."},      {"mlp.c_proj.", "ffn_down."}};
  if (name == "wte.weight") return "token_embd.weight";
  if (name == "wpe.weight") return "position_embd.weight";
  if (name.starts_with("ln_f.")) return "output_norm." + name.substr(5);
  if (name.starts_with("h.")) {
    const std::size_t dot = name.find('.', 2);
    const std::string layer = name.substr(2, dot - 2), rest = name.substr(dot + 1);
    for (const auto& [from, to] : kBlock) {
      if (rest.starts_with(from)) return "blk." + layer + "." + to + rest.substr(from.size());
    }
  }
  throw Error("GGUF export: no llama.cpp name for GPT parameter " + name);
}

std::uint32_t file_type_code(io::GgmlType t) {
  switch (t) {
    case io::GgmlType::f32: return 0;   // LLAMA_FTYPE_ALL_F32
    case io::GgmlType::f16: return 1;   // LLAMA_FTYPE_MOSTLY_F16
    case io::GgmlType::q8_0: return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    default: throw Error(std::string("GGUF export: weight type ") + io::ggml_type_name(t) + " is not offered (f32, f16, q8_0)");
  }
}

}  // namespace

void save_gpt2_gguf(const Gpt& model, const text::BpeTokenizer& tokenizer, const std::filesystem::path& path,
                    io::GgmlType weight_type, const std::string& name) {
  const GptConfig& c = model.config();
  const std::uint32_t ftype = file_type_code(weight_type);
  if (static_cast<std::int64_t>(tokenizer.vocab_size()) != c.vocab_size) {
    throw Error("GGUF export: the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                " tokens but the model's vocabulary is " + std::to_string(c.vocab_size) +
                "; llama.cpp needs one token per embedding row");
  }
  const text::BpeModel bpe = tokenizer.model();
  std::vector<std::string> tokens(static_cast<std::size_t>(c.vocab_size));
  std::vector<std::int32_t> types(tokens.size(), 1);  // NORMAL
  for (const auto& [tok, id] : bpe.vocab) tokens[id] = tok;
  for (const auto& a : bpe.added_tokens) {
    tokens[a.id] = a.content;
    if (a.special) types[a.id] = 3;  // CONTROL
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty()) throw Error("GGUF export: the tokenizer has no token for id " + std::to_string(i));
  }
  std::vector<std::string> merges;
  merges.reserve(bpe.merges.size());
  for (const auto& [a, b] : bpe.merges) merges.push_back(a + " " + b);

  io::GgufMetadata md = {
      {"general.architecture", "gpt2"},
      {"general.type", "model"},
      {"general.name", name},
      {"general.file_type", ftype},
      {"general.quantization_version", std::uint32_t{2}},
      {"gpt2.block_count", static_cast<std::uint32_t>(c.n_layer)},
      {"gpt2.context_length", static_cast<std::uint32_t>(c.n_positions)},
      {"gpt2.embedding_length", static_cast<std::uint32_t>(c.n_embd)},
      {"gpt2.feed_forward_length", static_cast<std::uint32_t>(4 * c.n_embd)},
      {"gpt2.attention.head_count", static_cast<std::uint32_t>(c.n_head)},
      {"gpt2.attention.layer_norm_epsilon", static_cast<float>(c.layer_norm_eps)},
      {"tokenizer.ggml.model", "gpt2"},
      {"tokenizer.ggml.pre", "gpt-2"},
      {"tokenizer.ggml.tokens", tokens},
      {"tokenizer.ggml.token_type", types},
      {"tokenizer.ggml.merges", merges},
  };
  if (const auto eot = tokenizer.token_to_id("<|endoftext|>")) {
    md.emplace_back("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(*eot));
    md.emplace_back("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(*eot));
  }

  // Encode every tensor; the byte buffers live until write_gguf returns.
  std::vector<std::vector<std::byte>> buffers;
  std::vector<io::GgufTensorData> tensors;
  const auto add = [&](const std::string& gname, const Tensor& p) {
    NoGradGuard no_grad;
    const Tensor t = p.detach().to(DType::f32).contiguous();
    const std::vector<float> values = t.to_vector<float>();
    const io::GgmlType type = t.dim() >= 2 ? weight_type : io::GgmlType::f32;
    if (type == io::GgmlType::q8_0 && t.shape().back() % 32 != 0) {
      throw Error("GGUF export: q8_0 needs rows of a multiple of 32 values; " + gname + " has rows of " +
                  std::to_string(t.shape().back()));
    }
    buffers.push_back(io::gguf_quantize(type, values));
    tensors.push_back({gname, type, t.shape(), {}});
  };
  for (const auto& [pname, p] : model.named_parameters()) add(gguf_name(pname), p);
  add("output.weight", model.wte());
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].data = buffers[i];
  io::write_gguf(path, md, tensors);
}

std::unique_ptr<Gpt> load_gpt2_gguf(const std::filesystem::path& path, Generator& gen) {
  const io::GgufFile file = io::GgufFile::open(path);
  const auto error = [&](const std::string& what) { return Error("GGUF file '" + path.string() + "': " + what); };
  const std::string& arch = file.get<std::string>("general.architecture");
  if (arch != "gpt2") throw error("architecture '" + arch + "' is not supported (kiln loads 'gpt2')");
  const auto u32 = [&](const std::string& key) -> std::int64_t {
    const io::GgufValue& v = file.at(key);
    if (v.type() == io::GgufType::u32) return v.get<std::uint32_t>();
    if (v.type() == io::GgufType::i32) return v.get<std::int32_t>();
    if (v.type() == io::GgufType::u64) return static_cast<std::int64_t>(v.get<std::uint64_t>());
    throw error(key + " must be an integer, it is " + io::gguf_type_name(v.type()));
  };
  if (!file.contains("token_embd.weight")) throw error("no tensor token_embd.weight");
  GptConfig c{
      .vocab_size = file.info("token_embd.weight").shape.front(),
      .n_positions = u32("gpt2.context_length"),
      .n_embd = u32("gpt2.embedding_length"),
      .n_layer = u32("gpt2.block_count"),
      .n_head = u32("gpt2.attention.head_count"),
      .layer_norm_eps = file.has("gpt2.attention.layer_norm_epsilon")
                            ? static_cast<double>(file.get<float>("gpt2.attention.layer_norm_epsilon"))
                            : 1e-5,
  };
  if (file.has("gpt2.feed_forward_length") && u32("gpt2.feed_forward_length") != 4 * c.n_embd) {
    throw error("gpt2.feed_forward_length " + std::to_string(u32("gpt2.feed_forward_length")) +
         " is not supported (kiln's GPT uses 4·n_embd = " + std::to_string(4 * c.n_embd) + ")");
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw error(e.what());
  }
  auto model = std::make_unique<Gpt>(c, gen);
  const auto decode = [&](const std::string& gname) {
    if (!file.contains(gname)) throw error("no tensor " + gname);
    const io::GgmlType type = file.info(gname).type;
    if (type != io::GgmlType::f32 && type != io::GgmlType::f16 && type != io::GgmlType::bf16 &&
        type != io::GgmlType::q8_0 && type != io::GgmlType::q4_0) {
      throw error("tensor " + gname + " has type " + io::ggml_type_name(type) +
           ", which kiln does not decode (f32, f16, bf16, q8_0, q4_0)");
    }
    return file.dequantize(gname);
  };
  nn::StateDict weights;
  for (const auto& [pname, p] : model->named_parameters()) weights.add(pname, decode(gguf_name(pname)));
  if (file.contains("output.weight")) {
    NoGradGuard no_grad;
    const Tensor out = decode("output.weight");
    const Tensor& wte = weights.at("wte.weight");
    if (out.shape() != wte.shape() || max(abs(sub(out, wte))).item() != 0.0) {
      throw error("output.weight differs from token_embd.weight; kiln's GPT ties its output head to the embedding");
    }
  }
  try {
    model->load_state_dict(weights, /*strict=*/true);
  } catch (const Error& e) {
    throw error(e.what());
  }
  return model;
}

}  // namespace kiln::models
