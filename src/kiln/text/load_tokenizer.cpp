#include "kiln/text/load_tokenizer.h"

#include <filesystem>
#include <system_error>

#include "kiln/core/error.h"
#include "kiln/io/gguf.h"

namespace kiln::text {

BpeTokenizer load_tokenizer_path(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p = path;
  std::error_code ec;
  if (!fs::exists(p, ec)) throw Error("tokenizer '" + path + "': no such file or directory");
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "tokenizer.json", ec)) return BpeTokenizer::from_tokenizer_json((p / "tokenizer.json").string());
    if (fs::exists(p / "encoder.json", ec) && fs::exists(p / "vocab.bpe", ec)) {
      return BpeTokenizer::from_gpt2_files((p / "encoder.json").string(), (p / "vocab.bpe").string());
    }
    throw Error("tokenizer directory '" + path + "' holds neither tokenizer.json nor encoder.json + vocab.bpe");
  }
  if (p.extension() == ".gguf") return BpeTokenizer::from_gguf(io::GgufFile::open(path));
  return BpeTokenizer::from_tokenizer_json(path);
}

}  // namespace kiln::text
