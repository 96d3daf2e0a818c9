#pragma once
// GPT-2 models as llama.cpp's GGUF files (architecture "gpt2"), both ways.
//
// The layout is llama.cpp's (convert_hf_to_gguf.py, LLM_ARCH_GPT2):
// token_embd, position_embd, blk.N.{attn_norm, attn_qkv, attn_output,
// ffn_norm, ffn_up, ffn_down}.{weight,bias}, output_norm, and output.weight —
// the tied head written out again, since llama.cpp's gpt2 loader needs it.
// kiln's Linear weights are [out, in], which is ggml's {in, out}: no transposes.
// Matrices take the chosen type (f32, f16 or q8_0, ggml's reference rounding);
// vectors stay f32, as llama-quantize leaves them. The tokenizer goes into
// tokenizer.ggml.* so llama.cpp (and kiln's BpeTokenizer::from_gguf) rebuild it.
#include <filesystem>
#include <memory>
#include <string>

#include "kiln/core/rng.h"
#include "kiln/io/gguf.h"
#include "kiln/models/gpt.h"
#include "kiln/text/bpe_tokenizer.h"

namespace kiln::models {

/// Writes `model` with `tokenizer` (which must fit the model's vocabulary) to
/// `path` atomically. weight_type: f32, f16 or q8_0 (q8_0 needs the width to
/// be a multiple of 32, else the error names the tensor).
void save_gpt2_gguf(const Gpt& model, const text::BpeTokenizer& tokenizer, const std::filesystem::path& path,
                    io::GgmlType weight_type = io::GgmlType::f32, const std::string& name = "kiln-gpt2");

/// A GPT built from a "gpt2" GGUF: sizes from its gpt2.* keys, weights decoded
/// to f32 from f32, f16, bf16, q8_0 or q4_0. Refuses other architectures and
/// tensor types, a missing tensor, shapes that disagree with the sizes, and an
/// output.weight that is not the token embedding (kiln ties its head), naming
/// the file and the key or tensor.
std::unique_ptr<Gpt> load_gpt2_gguf(const std::filesystem::path& path, Generator& gen);

}  // namespace kiln::models
