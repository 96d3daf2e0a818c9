#include "kiln/text/gpt2_builtin.h"

// The assembler copies the files into .rodata between begin/end symbols
// (.incbin): no generated 1.5 MB C array for the compiler to parse. CMake
// passes the directory as KILN_GPT2_VOCAB_DIR and makes this file depend on both.
#ifndef KILN_GPT2_VOCAB_DIR
#error "KILN_GPT2_VOCAB_DIR must name the directory holding GPT-2's encoder.json and vocab.bpe"
#endif

#define KILN_EMBED_FILE(sym, file)                \
  __asm__(".section .rodata\n"                    \
          ".global " #sym "_begin\n"              \
          ".global " #sym "_end\n"                \
          ".balign 16\n" #sym "_begin:\n"         \
          ".incbin \"" KILN_GPT2_VOCAB_DIR "/" file "\"\n" \
          #sym "_end:\n"                          \
          ".byte 0\n"                             \
          ".previous\n")

KILN_EMBED_FILE(kiln_gpt2_encoder_json, "encoder.json");
KILN_EMBED_FILE(kiln_gpt2_vocab_bpe, "vocab.bpe");

extern "C" {
extern const char kiln_gpt2_encoder_json_begin[];
extern const char kiln_gpt2_encoder_json_end[];
extern const char kiln_gpt2_vocab_bpe_begin[];
extern const char kiln_gpt2_vocab_bpe_end[];
}

namespace kiln::text {

std::string_view gpt2_builtin_encoder_json() {
  return {kiln_gpt2_encoder_json_begin, static_cast<std::size_t>(kiln_gpt2_encoder_json_end - kiln_gpt2_encoder_json_begin)};
}

std::string_view gpt2_builtin_vocab_bpe() {
  return {kiln_gpt2_vocab_bpe_begin, static_cast<std::size_t>(kiln_gpt2_vocab_bpe_end - kiln_gpt2_vocab_bpe_begin)};
}

BpeTokenizer load_gpt2_builtin() {
  return BpeTokenizer::from_gpt2_text(gpt2_builtin_encoder_json(), gpt2_builtin_vocab_bpe(),
                                      "<built-in GPT-2 encoder.json>", "<built-in GPT-2 vocab.bpe>");
}

const BpeTokenizer& gpt2_builtin_tokenizer() {
  static const BpeTokenizer tokenizer = load_gpt2_builtin();
  return tokenizer;
}

}  // namespace kiln::text
