// Building a byte-level BPE tokenizer from the tokenizer.ggml.* metadata that
// llama.cpp's converters (convert_hf_to_gguf.py, via gguf-py) store in GGUF
// files. The keys and their meaning follow llama.cpp's llama-vocab.cpp.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kiln/core/error.h"
#include "kiln/io/gguf.h"
#include "kiln/text/bpe_errors.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/escape.h"

namespace kiln::text {

namespace {

// llama.cpp's token types (gguf-py's TokenType).
enum TokenType : std::int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// The tokenizer.ggml.pre values llama.cpp maps to LLAMA_VOCAB_PRE_TYPE_GPT2,
// i.e. splits with GPT-2's pattern before BPE, the one kiln implements.
constexpr std::array<std::string_view, 10> kGpt2PreTokenizers = {
    "gpt-2",      "phi-2",      "jina-es",    "jina-de",      "gigachat",
    "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe"};

// Text from a file reaches the user's terminal: control bytes and invalid UTF-8 are escaped.
std::string in_quotes(std::string_view s) { return "'" + escape_for_terminal(s) + "'"; }

std::string what_model_is(std::string_view model) {
  if (model == "llama") return " (SentencePiece)";
  if (model == "bert") return " (WordPiece)";
  if (model == "t5") return " (Unigram)";
  if (model == "rwkv") return " (RWKV's trie tokenizer)";
  if (model == "none") return " (no tokenizer)";
  return "";
}

class Metadata {
 public:
  Metadata(const std::vector<std::pair<std::string, io::GgufValue>>& metadata, const std::string& source)
      : source_(source) {
    for (const auto& [key, value] : metadata) values_.emplace(key, &value);
  }

  [[noreturn]] void fail(const std::string& problem) const { throw Error(source_ + ": " + problem); }

  /// The value of `key` as T, nullptr when absent; throws when it has another type.
  template <class T>
  const T* find(const std::string& key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) return nullptr;
    const io::GgufValue& v = *it->second;
    if (v.type() != io::gguf_type_of<T>()) {
      fail(key + " holds " + io::gguf_type_name(v.type()) + ", expected " + io::gguf_type_name(io::gguf_type_of<T>()));
    }
    return &std::get<T>(v.value);
  }

  template <class T>
  const T& require(const std::string& key, const std::string& why) const {
    const T* v = find<T>(key);
    if (v == nullptr) fail("no " + key + " (" + why + ")");
    return *v;
  }

  /// The elements of array `key`, which must hold E.
  template <class E>
  const std::vector<E>& array(const std::string& key, const std::string& why) const {
    const io::GgufArray& a = require<io::GgufArray>(key, why);
    if (a.type() != io::gguf_type_of<E>()) {
      fail(key + " is an array of " + io::gguf_type_name(a.type()) + ", expected an array of " +
           io::gguf_type_name(io::gguf_type_of<E>()));
    }
    return a.get<E>();
  }

 private:
  std::string source_;
  std::unordered_map<std::string, const io::GgufValue*> values_;
};

}  // namespace

BpeTokenizer BpeTokenizer::from_gguf(const io::GgufFile& file) {
  return from_gguf_metadata(file.metadata(), "GGUF file " + in_quotes(file.path().string()));
}

BpeTokenizer BpeTokenizer::from_gguf_metadata(const std::vector<std::pair<std::string, io::GgufValue>>& metadata,
                                              const std::string& source) {
  const Metadata md(metadata, source);
  const std::string& model_name = md.require<std::string>("tokenizer.ggml.model", "the file stores no tokenizer");
  if (model_name != "gpt2") {
    md.fail("tokenizer.ggml.model is " + in_quotes(model_name) + what_model_is(model_name) +
            "; kiln builds a BPE tokenizer only from 'gpt2' (byte-level BPE) vocabularies");
  }
  const std::string* pre = md.find<std::string>("tokenizer.ggml.pre");
  if (pre == nullptr) {
    md.fail("no tokenizer.ggml.pre: llama.cpp would then split text with its 'default' pattern, which kiln "
            "does not implement (kiln implements GPT-2's pattern, e.g. tokenizer.ggml.pre = 'gpt-2')");
  }
  if (std::find(kGpt2PreTokenizers.begin(), kGpt2PreTokenizers.end(), *pre) == kGpt2PreTokenizers.end()) {
    md.fail("tokenizer.ggml.pre " + in_quotes(*pre) +
            " splits text with a pattern other than GPT-2's, the only one kiln implements "
            "(accepted: gpt-2, phi-2, roberta-bpe, gigachat and the jina-* variants llama.cpp treats as GPT-2)");
  }

  const auto& tokens = md.array<std::string>("tokenizer.ggml.tokens", "the vocabulary");
  const std::vector<std::int32_t>* types = nullptr;
  if (md.find<io::GgufArray>("tokenizer.ggml.token_type") != nullptr) {
    types = &md.array<std::int32_t>("tokenizer.ggml.token_type", "");
    if (types->size() != tokens.size()) {
      md.fail("tokenizer.ggml.token_type has " + std::to_string(types->size()) + " entries for " +
              std::to_string(tokens.size()) + " tokens");
    }
  }
  const auto& merges = md.array<std::string>("tokenizer.ggml.merges", "a 'gpt2' vocabulary needs its BPE merges");

  BpeModel model;
  if (const bool* prefix = md.find<bool>("tokenizer.ggml.add_space_prefix")) model.options.add_prefix_space = *prefix;
  model.vocab.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& tok = tokens[i];
    const auto id = static_cast<TokenId>(i);
    const std::int32_t type = types != nullptr ? (*types)[i] : kNormal;
    const std::string where = "token " + std::to_string(i) + " " + in_quotes(tok);
    if (type == kUnused) continue;
    if (tok.empty()) md.fail("token " + std::to_string(i) + " is empty");
    switch (type) {
      case kNormal:
      case kUnknown:
        model.vocab.emplace_back(tok, id);
        break;
      case kControl:
        model.vocab.emplace_back(tok, id);
        model.added_tokens.push_back({tok, id, true, false, false, false, false});
        break;
      case kUserDefined:
        model.added_tokens.push_back({tok, id, false, false, false, false, false});
        break;
      case kByte:
        md.fail(where + " has type BYTE (a SentencePiece byte token), which a byte-level BPE vocabulary does not use");
      default:
        md.fail(where + " has token_type " + std::to_string(type) + ", not one of llama.cpp's types 1-6");
    }
  }

  model.merges.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    // As llama.cpp: split at the first space after the first byte.
    const std::size_t space = m.find(' ', 1);
    if (space == std::string::npos) {
      md.fail("tokenizer.ggml.merges[" + std::to_string(rank) + "] " + in_quotes(m) +
              " is not two tokens separated by a space");
    }
    model.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  try {
    return BpeTokenizer(model, source);
  } catch (const detail::BadMerge& e) {
    md.fail("tokenizer.ggml.merges[" + std::to_string(e.rank()) + "]: " + e.reason());
  }
}

}  // namespace kiln::text
