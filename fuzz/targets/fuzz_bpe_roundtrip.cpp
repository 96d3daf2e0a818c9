// GPT-2 byte-level BPE: for any input bytes, decode(encode(data)) must give the
// bytes back exactly, with "<|endoftext|>" allowed as a special token or not.
// The first byte picks one of three tokenizers built from GPT-2's files: as
// shipped, without the pre-tokenizer regex (the whole input is one word), and
// with ignore_merges; the round trip covers every byte of the input. For GPT-2
// as shipped it also checks that cutting the text where split_for_encoding
// cuts it (what parallel encoding does) gives the ids of the whole text.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/parallel_encode.h"

using namespace kiln::text;

namespace {

struct Tokenizers {
  BpeTokenizer gpt2;
  BpeTokenizer no_regex;
  BpeTokenizer ignore_merges;
  TokenId eot;
};

BpeTokenizer with_options(const BpeTokenizer& base, bool use_regex, bool ignore_merges) {
  BpeModel m = base.model();
  m.options.use_regex = use_regex;
  m.options.ignore_merges = ignore_merges;
  return BpeTokenizer(m, "GPT-2 variant");
}

const Tokenizers& tokenizers() {
  static const Tokenizers t = [] {
    const std::string dir = kiln::fuzz::fixtures_dir() + "/text/";
    BpeTokenizer gpt2 = BpeTokenizer::from_gpt2_files(dir + "encoder.json", dir + "vocab.bpe");
    BpeTokenizer no_regex = with_options(gpt2, false, false);
    BpeTokenizer ignore = with_options(gpt2, true, true);
    const TokenId eot = *gpt2.token_to_id("<|endoftext|>");
    return Tokenizers{std::move(gpt2), std::move(no_regex), std::move(ignore), eot};
  }();
  return t;
}

void check_round_trip(const BpeTokenizer& tok, std::string_view text, const AllowedSpecial& allowed, TokenId eot,
                      bool eot_allowed) {
  const std::vector<TokenId> ids = tok.encode(text, allowed);
  if (tok.decode(ids) != text) kiln::fuzz::finding("decode(encode(text)) != text");
  if (!eot_allowed && std::find(ids.begin(), ids.end(), eot) != ids.end()) {
    kiln::fuzz::finding("<|endoftext|> encoded as the special token without being allowed");
  }
  // The second encoding is served from the word cache: it must agree.
  if (tok.encode(text, allowed) != ids) kiln::fuzz::finding("a cached encoding differs from the first one");
  // Dropping special tokens removes exactly the <|endoftext|> ids.
  std::vector<TokenId> plain;
  std::copy_if(ids.begin(), ids.end(), std::back_inserter(plain), [&](TokenId id) { return id != eot; });
  if (tok.decode(ids, true) != tok.decode(plain)) kiln::fuzz::finding("skip_special drops more than <|endoftext|>");
}

void check_cuts(const BpeTokenizer& tok, std::string_view text, const AllowedSpecial& allowed) {
  if (!cutting_preserves_tokens(tok, allowed)) kiln::fuzz::finding("GPT-2 as shipped should allow cutting");
  std::vector<TokenId> joined;
  for (const std::string_view piece : split_for_encoding(text, 1)) {
    const std::vector<TokenId> ids = tok.encode(piece, allowed);
    joined.insert(joined.end(), ids.begin(), ids.end());
  }
  if (joined != tok.encode(text, allowed)) kiln::fuzz::finding("encoding the cut pieces differs from the whole text");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Tokenizers& t = tokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const int variant = size == 0 ? 0 : data[0] % 3;
  const BpeTokenizer& tok = variant == 0 ? t.gpt2 : variant == 1 ? t.no_regex : t.ignore_merges;
  // Errors are findings here: every byte string is encodable with GPT-2's vocabulary.
  try {
    check_round_trip(tok, text, AllowedSpecial::none(), t.eot, false);
    check_round_trip(tok, text, AllowedSpecial{"<|endoftext|>"}, t.eot, true);
    if (variant == 0) {
      check_cuts(tok, text, AllowedSpecial::none());
      check_cuts(tok, text, AllowedSpecial{"<|endoftext|>"});
    }
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    kiln::fuzz::finding("GPT-2 BPE threw on some input bytes");
  }
  return 0;
}
