// `kiln convert IN OUT`: a GPT-2 between Hugging Face's layout and llama.cpp's
// GGUF (f32, f16, q8_0), in either direction.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "kiln/cli/commands.h"
#include "kiln/core/error.h"
#include "kiln/core/rng.h"
#include "kiln/io/gguf.h"
#include "kiln/models/gpt_gguf.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/text/load_tokenizer.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

struct ConvertOptions {
  std::string input, output, type = "f32", tokenizer, name = "kiln-gpt2";
};

io::GgmlType parse_type(const std::string& t) {
  if (t == "f32") return io::GgmlType::f32;
  if (t == "f16") return io::GgmlType::f16;
  if (t == "q8_0") return io::GgmlType::q8_0;
  throw Error("--type " + t + " is not offered (f32, f16, q8_0)");
}

void run_convert(const ConvertOptions& o) {
  const fs::path in = o.input, out = o.output;
  Generator gen(0);
  const bool from_gguf = in.extension() == ".gguf";
  std::error_code ec;
  if (!from_gguf && !fs::exists(in / "config.json", ec)) {
    throw Error(o.input + " is neither a GGUF file nor a directory with config.json and model.safetensors");
  }
  const std::unique_ptr<models::Gpt> model = from_gguf ? models::load_gpt2_gguf(in, gen) : models::load_hf_gpt2(in, gen);
  // The tokenizer travels with the model: --tokenizer, else the input's own, else GPT-2's built-in one.
  const text::BpeTokenizer tok = [&] {
    if (!o.tokenizer.empty()) return o.tokenizer == "gpt2" ? text::load_gpt2_builtin() : text::load_tokenizer_path(o.tokenizer);
    if (from_gguf) return text::BpeTokenizer::from_gguf(io::GgufFile::open(in));
    if (fs::exists(in / "tokenizer.json", ec)) return text::BpeTokenizer::from_tokenizer_json((in / "tokenizer.json").string());
    if (model->config().vocab_size == 50257) return text::load_gpt2_builtin();
    throw Error(o.input + " holds no tokenizer.json and its vocabulary is not GPT-2's; give --tokenizer");
  }();
  if (out.extension() == ".gguf") {
    models::save_gpt2_gguf(*model, tok, out, parse_type(o.type), o.name);
  } else {
    if (o.type != "f32") throw Error("--type " + o.type + " applies to GGUF output; Hugging Face output is f32");
    models::save_hf_gpt2(*model, out, &tok);
  }
  std::cout << "wrote " << out.string() << " (" << model->config().str() << ", " << o.type << ")\n";
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a GPT-2 between Hugging Face layout (a directory) and llama.cpp's GGUF (a .gguf file)");
  cmd->add_option("input", o->input, "A Hugging Face model directory or a .gguf file")->required();
  cmd->add_option("output", o->output, "A .gguf file, or a directory for Hugging Face layout")->required();
  cmd->add_option("--type", o->type, "GGUF weight type: f32, f16 or q8_0 (vectors stay f32)")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}));
  cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer to store (default: the input's own, else GPT-2's)");
  cmd->add_option("--name", o->name, "general.name of a GGUF output");
  cmd->callback([o] { run_convert(*o); });
}

}  // namespace kiln::cli
