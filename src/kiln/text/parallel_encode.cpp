#include "kiln/text/parallel_encode.h"

#include <algorithm>
#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "kiln/core/parallel.h"
#include "kiln/text/byte_level.h"
#include "kiln/text/unicode.h"

namespace kiln::text {
namespace {

// Whether the character that ends at byte `end` (end > 0) is not white space;
// a byte that ends no valid character is, as in the pre-tokenizer, a character
// of its own that is not white space.
bool non_space_before(std::string_view text, std::size_t end) {
  const std::size_t start = utf8_char_start_before(text, end);
  const Utf8Char c = decode_utf8(text, start);
  if (!c.valid || start + c.len != end) return true;
  return detail::classify(c) != detail::CharClass::space;
}

bool non_space_at(std::string_view text, std::size_t i) {
  return detail::class_at(text, i).first != detail::CharClass::space;
}

bool enabled(const AddedToken& a, const AllowedSpecial& allowed) {
  if (!a.special || allowed.is_all()) return true;
  return std::find(allowed.names().begin(), allowed.names().end(), a.content) != allowed.names().end();
}

// The ids of a long text fill tens of megabytes that are written once, by the
// thread that joins the pieces. In 4 KiB pages that is thousands of page
// faults in a row (on a virtual machine about 1.5 us each: 6-7 ms of the
// 68 ms that encoding all fortunes takes on 2 threads, and none of it
// parallel). Asking for transparent huge pages makes it a handful.
void reserve_ids(std::vector<TokenId>& ids, std::size_t n) {
  ids.reserve(n);
#ifdef __linux__
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(ids.data());
  const std::uintptr_t end = begin + n * sizeof(TokenId);
  const std::uintptr_t first = (begin + kHuge - 1) & ~std::uintptr_t{kHuge - 1};
  const std::uintptr_t last = end & ~std::uintptr_t{kHuge - 1};
  // Only advice: where the kernel has no huge pages (or THP is off) nothing changes.
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
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
      if (non_space_at(text, nl + 1) && (nl == 0 || non_space_before(text, nl))) {
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
  std::vector<std::string_view> pieces;
  std::vector<std::size_t> first_piece(texts.size() + 1);  // text t owns pieces [first_piece[t], first_piece[t + 1])
  for (std::size_t t = 0; t < texts.size(); ++t) {
    first_piece[t] = pieces.size();
    if (!cut) {
      pieces.push_back(texts[t]);
      continue;
    }
    for (const std::string_view p : split_for_encoding(texts[t], piece_bytes)) pieces.push_back(p);
  }
  first_piece[texts.size()] = pieces.size();
  std::vector<std::vector<TokenId>> piece_ids = tokenizer.encode_batch(std::span<const std::string_view>(pieces), allowed);

  // Joining is a copy of every id: done on the worker threads too, or this
  // serial tail would eat a good part of what the parallel encode gained.
  std::vector<std::vector<TokenId>> out(texts.size());
  std::vector<std::size_t> offset(pieces.size());
  for (std::size_t t = 0; t < texts.size(); ++t) {
    const std::size_t b = first_piece[t], e = first_piece[t + 1];
    if (e - b == 1) {
      out[t] = std::move(piece_ids[b]);
      continue;
    }
    std::size_t total = 0;
    for (std::size_t i = b; i < e; ++i) {
      offset[i] = total;
      total += piece_ids[i].size();
    }
    reserve_ids(out[t], total);
    out[t].resize(total);
  }
  parallel_for(0, static_cast<std::int64_t>(pieces.size()), 1, [&](std::int64_t b, std::int64_t e) {
    for (auto i = static_cast<std::size_t>(b); i < static_cast<std::size_t>(e); ++i) {
      const std::vector<TokenId>& src = piece_ids[i];
      if (src.empty()) continue;  // also the pieces moved out above
      const auto t = static_cast<std::size_t>(
          std::upper_bound(first_piece.begin(), first_piece.end(), i) - first_piece.begin() - 1);
      std::copy(src.begin(), src.end(), out[t].begin() + static_cast<std::ptrdiff_t>(offset[i]));
    }
  });
  return out;
}

}  // namespace kiln::text
