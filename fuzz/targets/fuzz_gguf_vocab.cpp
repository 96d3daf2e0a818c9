// GGUF tokenizer metadata: a file parse_gguf accepts must either build a BPE
// tokenizer from its tokenizer.ggml.* keys or throw kiln::Error. A tokenizer
// that builds then encodes and decodes a fixed text and the file's own bytes.
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "kiln/io/gguf.h"
#include "kiln/text/bpe_tokenizer.h"

using namespace kiln;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  io::GgufHeader h;
  try {
    h = io::parse_gguf(file, "fuzz.gguf");
  } catch (const Error&) {
    return 0;
  }
  std::optional<text::BpeTokenizer> tok;
  try {
    tok.emplace(text::BpeTokenizer::from_gguf_metadata(h.metadata, "fuzz.gguf"));
  } catch (const Error&) {
    return 0;
  }
  for (const std::string_view t : {std::string_view("Hello world, it's 2025!"),
                                   std::string_view(reinterpret_cast<const char*>(data), size)}) {
    std::vector<text::TokenId> ids;
    try {
      ids = tok->encode(t, text::AllowedSpecial::all());
    } catch (const Error&) {
      continue;  // a byte without a token
    }
    try {
      (void)tok->decode(ids);
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      fuzz::finding("decode rejects ids that encode produced");
    }
  }
  return 0;
}
