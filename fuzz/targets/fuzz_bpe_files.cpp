// BPE model files: the first input byte picks the loader, the rest is the file.
//   even: a Hugging Face tokenizer.json (from_tokenizer_json);
//   odd:  GPT-2's encoder.json and vocab.bpe, split at the first NUL byte
//         (from_gpt2_files).
// Loading must succeed or throw kiln::Error. A loaded tokenizer then encodes
// the input; when nothing can change the text (no unk_token, no added token
// matched, no prefix space) decoding must give the bytes back. A tokenizer.json
// must also survive save_tokenizer_json + from_tokenizer_json unchanged.
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "kiln/text/bpe_tokenizer.h"

using namespace kiln::text;

namespace {

bool same_model(const BpeModel& a, const BpeModel& b) {
  if (a.vocab != b.vocab || a.merges != b.merges || a.unk_token != b.unk_token || a.fuse_unk != b.fuse_unk) return false;
  if (a.options.add_prefix_space != b.options.add_prefix_space || a.options.use_regex != b.options.use_regex ||
      a.options.ignore_merges != b.options.ignore_merges) {
    return false;
  }
  if (a.added_tokens.size() != b.added_tokens.size()) return false;
  for (std::size_t i = 0; i < a.added_tokens.size(); ++i) {
    const AddedToken& x = a.added_tokens[i];
    const AddedToken& y = b.added_tokens[i];
    if (x.content != y.content || x.id != y.id || x.special != y.special || x.lstrip != y.lstrip ||
        x.rstrip != y.rstrip || x.single_word != y.single_word || x.normalized != y.normalized) {
      return false;
    }
  }
  return true;
}

void exercise(const BpeTokenizer& tok, std::string_view text) {
  std::vector<TokenId> ids;
  try {
    ids = tok.encode(text);  // throws for a byte without a token when there is no unk_token
  } catch (const kiln::Error&) {
    return;
  }
  std::string back;
  try {
    back = tok.decode(ids);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    kiln::fuzz::finding("decode rejects ids that encode produced");
  }
  bool exact = !tok.model().unk_token;
  for (const AddedToken& a : tok.added_tokens()) exact = exact && a.special;  // specials are not matched here
  if (!exact) return;
  std::string expected;
  if (tok.options().add_prefix_space && !text.empty() && text[0] != ' ') expected = " ";
  expected += text;
  if (back != expected) kiln::fuzz::finding("decode(encode(text)) != text for a byte-level vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile json_file("tokenizer.json");
  static kiln::fuzz::MemFile encoder_file("encoder.json");
  static kiln::fuzz::MemFile merges_file("vocab.bpe");
  static kiln::fuzz::MemFile saved_file("saved.json");
  if (size == 0) return 0;
  const bool gpt2_files = (data[0] & 1) != 0;
  const std::uint8_t* body = data + 1;
  const std::size_t n = size - 1;
  const std::string_view text(reinterpret_cast<const char*>(body), n);

  if (!gpt2_files) {
    std::optional<BpeTokenizer> tok;
    try {
      tok.emplace(BpeTokenizer::from_tokenizer_json(json_file.write(body, n)));
    } catch (const kiln::Error&) {
      return 0;
    }
    exercise(*tok, text);
    try {
      tok->save_tokenizer_json(saved_file.path());
    } catch (const kiln::Error&) {
      return 0;  // e.g. a token that is not valid UTF-8 cannot be written as JSON
    }
    std::optional<BpeTokenizer> back;
    try {
      back.emplace(BpeTokenizer::from_tokenizer_json(saved_file.path()));
    } catch (const kiln::Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      kiln::fuzz::finding("from_tokenizer_json rejects what save_tokenizer_json wrote");
    }
    if (!same_model(tok->model(), back->model())) kiln::fuzz::finding("a tokenizer.json changed in a save/load round trip");
    return 0;
  }

  const auto* nul = static_cast<const std::uint8_t*>(std::memchr(body, 0, n));
  const std::size_t split = nul == nullptr ? n : static_cast<std::size_t>(nul - body);
  const std::string& encoder = encoder_file.write(body, split);
  const std::string& merges = merges_file.write(body + split + (nul ? 1 : 0), n - split - (nul ? 1 : 0));
  try {
    const BpeTokenizer tok = BpeTokenizer::from_gpt2_files(encoder, merges);
    exercise(tok, text);
  } catch (const kiln::Error&) {
  }
  return 0;
}
