#pragma once
// GPT-2's tokenizer, compiled into kiln: OpenAI's released encoder.json and
// vocab.bpe (the copies in tests/fixtures/text, embedded at build time by
// gpt2_builtin.cpp), so `kiln tokenize` and `kiln generate` need no
// vocabulary files and no data directory at run time.
#include <string_view>

#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {

/// The embedded files' contents.
std::string_view gpt2_builtin_encoder_json();
std::string_view gpt2_builtin_vocab_bpe();

/// Built on first use (about 0.2 s), then shared; safe from any thread.
const BpeTokenizer& gpt2_builtin_tokenizer();
/// A tokenizer of one's own built from the embedded files (BpeTokenizer is
/// move-only), for code that owns the tokenizer it picked.
BpeTokenizer load_gpt2_builtin();

}  // namespace kiln::text
