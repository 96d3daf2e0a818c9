// WordPiece: the first input byte picks options; the rest is a vocab.txt and a
// text to encode, split at the first NUL byte (the text may hold anything,
// invalid UTF-8 included).
//   bit 0: append BERT's special tokens to the vocabulary (else the vocabulary
//          must bring its own [UNK] or loading fails)
//   bit 1: lowercase; bit 2: strip accents (explicitly, else BERT's default);
//   bit 3: clean_text; bit 4: handle_chinese_chars;
//   bit 5: max_input_chars_per_word = 4 (else 100)
//   bit 6: continuation prefix "" (else "##")
// Loading must succeed or throw kiln::Error; encoding must not throw, give
// only ids inside the vocabulary, and agree with tokenize() and decode().
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "kiln/text/wordpiece.h"

using namespace kiln::text;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile vocab_file("vocab.txt");
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  const auto* body = reinterpret_cast<const char*>(data + 1);
  const std::size_t n = size - 1;
  const char* nul = static_cast<const char*>(std::memchr(body, 0, n));
  const std::size_t split = nul == nullptr ? n : static_cast<std::size_t>(nul - body);
  std::string vocab(body, split);
  const std::string_view text = nul == nullptr ? std::string_view() : std::string_view(nul + 1, n - split - 1);
  if (opt & 1) vocab += "\n[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]";

  WordPieceOptions o;
  o.basic.lowercase = (opt & 2) != 0;
  if (opt & 4) o.basic.strip_accents = true;
  o.basic.clean_text = (opt & 8) != 0;
  o.basic.handle_chinese_chars = (opt & 16) != 0;
  o.max_input_chars_per_word = (opt & 32) ? 4 : 100;
  if (opt & 64) o.continuing_subword_prefix.clear();

  std::optional<WordPieceTokenizer> tok;
  try {
    tok.emplace(WordPieceTokenizer::from_vocab_file(
        vocab_file.write(reinterpret_cast<const std::uint8_t*>(vocab.data()), vocab.size()), o));
  } catch (const kiln::Error&) {
    return 0;
  }

  try {
    const std::vector<TokenId> ids = tok->encode(text);
    for (const TokenId id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= tok->vocab_size()) kiln::fuzz::finding("id outside the vocabulary");
    }
    const std::vector<std::string> pieces = tok->tokenize(text);
    if (pieces.size() != ids.size()) kiln::fuzz::finding("tokenize() and encode() disagree");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (pieces[i] != tok->id_to_token(ids[i])) kiln::fuzz::finding("tokenize() and encode() disagree");
    }
    (void)tok->decode(ids);
    (void)tok->decode(ids, true);
    (void)tok->encode(text, AllowedSpecial::all());
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    kiln::fuzz::finding("WordPiece threw while encoding or decoding");
  }
  try {
    const BertEncoding enc = tok->encode_for_model(text, text);
    if (enc.ids.size() != enc.token_type_ids.size()) kiln::fuzz::finding("ids and token types differ in length");
  } catch (const kiln::Error&) {
    // [CLS] or [SEP] missing from the vocabulary
    if (opt & 1) kiln::fuzz::finding("encode_for_model threw although [CLS] and [SEP] are in the vocabulary");
  }
  return 0;
}
