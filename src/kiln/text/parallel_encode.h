#pragma once
// Encoding one long text on several threads. BpeTokenizer::encode_batch runs
// texts in parallel, so a long text is cut into pieces at places where cutting
// provably cannot change the tokens, and the pieces' ids are concatenated.
//
// A cut at byte p is safe when text[p-1] is '\n' and neither the character
// before it (if any) nor the character at p is white space (\s: Unicode
// White_Space; a byte that is not valid UTF-8 counts as a non-space character,
// as in the pre-tokenizer). Why: the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// has no look-behind, so matching from p sees only the suffix; a '\n' can only
// be in a whitespace piece (the optional prefix of the other alternatives is a
// space, never '\n'), and since it is a whitespace run of exactly one
// character followed by a non-space, the piece is "\n" both in the whole text
// and at the end of the prefix (where `\s+(?!\S)` matches it at end of text).
// Longer whitespace runs are not safe: "a\n\nb" splits as "\n","\n" but a
// prefix ending in "\n\n" keeps "\n\n" together. Lines of Chinese text, with
// no ASCII around their newlines, are cut like English ones.
//
// Added tokens are matched before pre-tokenization; a cut is still safe if no
// enabled added token contains '\n' (so none can straddle the cut) and none
// strips whitespace on its left (lstrip would swallow the '\n' across the cut).
// add_prefix_space changes every piece's start, and use_regex=false makes the
// whole text one word, so neither can be cut.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/text/bpe_tokenizer.h"

namespace kiln::text {

/// Cuts `text` at safe places (see above) into pieces of roughly
/// `target_bytes` or more (a piece grows until the next safe place). The pieces
/// concatenate to `text`. A text without safe places is one piece.
std::vector<std::string_view> split_for_encoding(std::string_view text, std::size_t target_bytes);

/// Whether encoding the pieces of split_for_encoding separately gives exactly
/// the ids of encoding the whole text with `tokenizer` and `allowed`.
bool cutting_preserves_tokens(const BpeTokenizer& tokenizer, const AllowedSpecial& allowed);

/// Encodes each of `texts` into the ids tokenizer.encode would give, with all
/// texts' pieces (split_for_encoding, where cutting is safe) encoded together
/// by encode_batch on kiln's threads.
std::vector<std::vector<TokenId>> encode_texts_parallel(const BpeTokenizer& tokenizer,
                                                         const std::vector<std::string_view>& texts,
                                                         const AllowedSpecial& allowed = AllowedSpecial::none(),
                                                         std::size_t piece_bytes = 64 * 1024);

}  // namespace kiln::text
