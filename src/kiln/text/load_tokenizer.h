#pragma once
// Finding a tokenizer from what a user names on the command line.
#include <string>

#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {
/// A tokenizer from a path: a Hugging Face tokenizer.json, a GGUF model file
/// (its tokenizer.ggml.* metadata), or a directory holding tokenizer.json or
/// GPT-2's encoder.json + vocab.bpe. Throws naming the path otherwise.
BpeTokenizer load_tokenizer_path(const std::string& path);

}  // namespace kiln::text
