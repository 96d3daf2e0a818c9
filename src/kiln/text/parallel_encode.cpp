#include "kiln/text/parallel_encode.h"

#include <algorithm>

namespace kiln::text {
namespace {

bool printable_ascii(char c) { return c >= '!' && c <= '~'; }

bool enabled(const AddedToken& a, const AllowedSpecial& allowed) {
  if (!a.special || allowed.is_all()) return true;
  return std::find(allowed.names().begin(), allowed.names().end(), a.content) != allowed.names().end();
}

}  // namespace

std::vector<std::string_view> split_for_encoding(std::string_view text, std::size_t target_bytes) {
  target_bytes = std::max<std::size_t>(target_bytes, 1);
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  while (text.size() - start > target_bytes) {
    // The first safe cut at or after start + target_bytes.
    std::size_t cut = std::string_view::npos;
    for (std::size_t nl = text.find('\n', start + target_bytes - 1); nl != std::string_view::npos && nl + 1 < text.size();
         nl = text.find('\n', nl + 1)) {
      if (printable_ascii(text[nl + 1]) && (nl == 0 || printable_ascii(text[nl - 1]))) {
        cut = nl + 1;
        break;
      }
    }
    if (cut == std::string_view::npos) break;
    pieces.push_back(text.substr(start, cut - start));
    start = cut;
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

bool cutting_preserves_tokens(const BpeTokenizer& tokenizer, const AllowedSpecial& allowed) {
  const BpeOptions& o = tokenizer.options();
  if (!o.use_regex || o.add_prefix_space) return false;
  for (const AddedToken& a : tokenizer.added_tokens()) {
    if (!enabled(a, allowed)) continue;
    if (a.lstrip || a.content.find('\n') != std::string::npos) return false;
  }
  return true;
}

std::vector<std::vector<TokenId>> encode_texts_parallel(const BpeTokenizer& tokenizer,
                                                         const std::vector<std::string_view>& texts,
                                                         const AllowedSpecial& allowed, std::size_t piece_bytes) {
  const bool cut = cutting_preserves_tokens(tokenizer, allowed);
  std::vector<std::string> pieces;
  std::vector<std::size_t> owner;  // piece -> index in texts
  for (std::size_t t = 0; t < texts.size(); ++t) {
    if (!cut) {
      pieces.emplace_back(texts[t]);
      owner.push_back(t);
      continue;
    }
    for (const std::string_view p : split_for_encoding(texts[t], piece_bytes)) {
      pieces.emplace_back(p);
      owner.push_back(t);
    }
  }
  std::vector<std::vector<TokenId>> piece_ids = tokenizer.encode_batch(pieces, allowed);
  pieces.clear();
  pieces.shrink_to_fit();

  std::vector<std::vector<TokenId>> out(texts.size());
  for (std::size_t i = 0; i < piece_ids.size(); ++i) {
    std::vector<TokenId>& dst = out[owner[i]];
    if (dst.empty()) {
      dst = std::move(piece_ids[i]);
    } else {
      dst.insert(dst.end(), piece_ids[i].begin(), piece_ids[i].end());
    }
  }
  return out;
}

}  // namespace kiln::text
