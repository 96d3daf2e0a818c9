// Token files (llm.c's layout, kiln's vocabulary slots): opening must accept or
// throw kiln::Error; an accepted file's ids lie inside the file (ASan checks
// every read) and below the vocabulary it was checked against.
#include "fuzz_util.h"
#include "kiln/io/token_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.bin");
  const std::string& path = file.write(data, size);
  for (const std::optional<std::int64_t> vocab : {std::optional<std::int64_t>(), std::optional<std::int64_t>(300)}) {
    try {
      const kiln::io::TokenFile f(path, {.vocab_size = vocab});
      if (kiln::io::kTokenFileHeaderBytes + 2 * static_cast<std::size_t>(f.size()) != size) {
        kiln::fuzz::finding("accepted token count disagrees with the file size");
      }
      for (const std::uint16_t id : f.tokens()) {
        if (f.vocab_size() > 0 && id >= f.vocab_size()) kiln::fuzz::finding("accepted an id over the vocabulary");
      }
    } catch (const kiln::Error&) {
    }
  }
  return 0;
}
