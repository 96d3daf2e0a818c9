#include "kiln/text/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <limits>

#include "kiln/core/error.h"
#include "kiln/core/parallel.h"
#include "kiln/text/bpe_errors.h"
#include "kiln/text/byte_level.h"
#include "kiln/text/pair_map.h"
#include "kiln/text/word_cache.h"

namespace kiln::text {

namespace {
constexpr std::uint8_t kInModel = 1;
constexpr std::uint8_t kInAdded = 2;

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }
}  // namespace

struct BpeTokenizer::Piece {
  std::size_t begin;
  std::size_t end;
  TokenId id;  // -1: ordinary text
};

// Words of at most this many bytes take the array path of BpeTokenizer::bpe.
constexpr std::size_t kShortWord = 32;

struct BpeTokenizer::Scratch {
  detail::WordCache* cache = nullptr;  // the table this encode call holds (see WordCacheHolder)
  detail::WordCache::Writer writer;    // this thread's insert state for that table
  struct Sym {
    std::uint32_t id;
    std::int32_t prev;
    std::int32_t next;
    bool alive;
  };
  struct Candidate {
    std::uint32_t rank;
    std::int32_t pos;
    std::uint32_t new_id;
    // std::push_heap builds a max-heap; "greater" puts the lowest (rank, pos) on top.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Sym> syms;
  std::vector<Candidate> heap;
  std::vector<TokenId> word_ids;
  std::string prefixed;
  std::vector<Piece> pieces;
};

BpeTokenizer::BpeTokenizer(const BpeModel& model, const std::string& source)
    : merges_(std::make_unique<detail::PairMap>()),
      cache_(std::make_unique<detail::WordCacheHolder>()),
      added_(model.added_tokens),
      options_(model.options) {
  constexpr TokenId kMaxId = std::numeric_limits<std::int32_t>::max() - 1;
  TokenId max_id = -1;
  auto check_range = [&](TokenId id, std::string_view what) {
    if (id < 0 || id > kMaxId) {
      throw Error(source + ": id " + std::to_string(id) + " of " + std::string(what) + " is out of range [0, " +
                  std::to_string(kMaxId) + "]");
    }
    max_id = std::max(max_id, id);
  };
  for (const auto& [tok, id] : model.vocab) check_range(id, "token " + in_quotes(tok));
  for (const auto& a : model.added_tokens) check_range(a.id, "added token " + in_quotes(a.content));
  // Ids index dense tables (about 70 bytes per id), so a tiny file with one
  // huge id would allocate gigabytes. Real vocabularies are dense; allow a
  // generous number of unused ids and refuse the rest.
  constexpr std::size_t kMaxUnusedIds = std::size_t{1} << 20;
  const std::size_t entries = model.vocab.size() + model.added_tokens.size();
  if (static_cast<std::size_t>(max_id + 1) > entries + kMaxUnusedIds) {
    throw Error(source + ": id " + std::to_string(max_id) + " is far beyond the " + std::to_string(entries) +
                " tokens of the vocabulary (kiln stores ids densely and accepts at most " +
                std::to_string(kMaxUnusedIds) + " unused ids)");
  }

  const auto n = static_cast<std::size_t>(max_id + 1);
  tokens_.assign(n, std::string());
  id_kind_.assign(n, 0);
  std::unordered_map<std::string, TokenId, detail::StringHash, std::equal_to<>> model_ids;
  model_ids.reserve(model.vocab.size());
  for (const auto& [tok, id] : model.vocab) {
    const auto i = static_cast<std::size_t>(id);
    if (id_kind_[i] & kInModel) {
      throw Error(source + ": id " + std::to_string(id) + " is given to both " + in_quotes(tokens_[i]) + " and " +
                  in_quotes(tok));
    }
    if (!model_ids.emplace(tok, id).second) {
      throw Error(source + ": token " + in_quotes(tok) + " appears twice in the vocabulary (ids " +
                  std::to_string(model_ids.at(tok)) + " and " + std::to_string(id) + ")");
    }
    tokens_[i] = tok;
    id_kind_[i] |= kInModel;
  }
  for (const auto& a : model.added_tokens) {
    const auto i = static_cast<std::size_t>(a.id);
    if (a.content.empty()) throw Error(source + ": added token with id " + std::to_string(a.id) + " is empty");
    if (a.single_word) {
      throw Error(source + ": added token " + in_quotes(a.content) +
                  " uses single_word, which kiln's BPE tokenizer does not implement");
    }
    if ((id_kind_[i] & kInModel) && tokens_[i] != a.content) {
      throw Error(source + ": added token " + in_quotes(a.content) + " has id " + std::to_string(a.id) +
                  ", which the vocabulary gives to " + in_quotes(tokens_[i]));
    }
    if (id_kind_[i] & kInAdded) {
      throw Error(source + ": id " + std::to_string(a.id) + " is given to two added tokens");
    }
    tokens_[i] = a.content;
    id_kind_[i] |= kInAdded;
  }
  token_ids_ = model_ids;
  for (const auto& a : model.added_tokens) token_ids_.insert_or_assign(a.content, a.id);

  // Decoding follows Hugging Face's ByteLevel decoder: a token whose characters
  // are all in the byte alphabet gives those bytes, any other its own UTF-8.
  token_bytes_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!byte_level_to_bytes(tokens_[i], token_bytes_[i])) token_bytes_[i] = tokens_[i];
  }

  const auto& alphabet = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_utf8(ch, alphabet[static_cast<std::size_t>(b)]);
    const auto it = model_ids.find(ch);
    byte_ids_[b] = it == model_ids.end() ? -1 : it->second;
  }

  if (model.unk_token) {
    const auto it = model_ids.find(*model.unk_token);
    if (it == model_ids.end()) throw Error(source + ": unk_token " + in_quotes(*model.unk_token) + " is not in the vocabulary");
    unk_id_ = it->second;
    unk_token_ = model.unk_token;
    fuse_unk_ = model.fuse_unk;
  }

  merge_list_.reserve(model.merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < model.merges.size(); ++rank) {
    // Not a structured binding: clang before 16 (the fuzz build) cannot capture one in a lambda.
    const std::string& a = model.merges[rank].first;
    const std::string& b = model.merges[rank].second;
    auto id_of = [&](const std::string& tok) {
      const auto it = model_ids.find(tok);
      if (it == model_ids.end()) {
        throw detail::BadMerge(rank, "merge " + in_quotes(a + " " + b) + ": token " + in_quotes(tok) +
                                         " is not in the vocabulary");
      }
      return static_cast<std::uint32_t>(it->second);
    };
    const std::uint32_t ia = id_of(a);
    const std::uint32_t ib = id_of(b);
    joined = a;
    joined += b;
    const std::uint32_t merged = id_of(joined);
    merges_->insert_or_assign(ia, ib, {static_cast<std::uint32_t>(rank), merged});
    merge_list_.emplace_back(ia, ib);
  }
}

BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

std::optional<TokenId> BpeTokenizer::token_to_id(std::string_view token) const {
  const auto it = token_ids_.find(token);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& BpeTokenizer::check_id(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || id_kind_[static_cast<std::size_t>(id)] == 0) {
    throw Error("BPE tokenizer: id " + std::to_string(id) + " names no token (vocabulary size " +
                std::to_string(tokens_.size()) + ")");
  }
  return tokens_[static_cast<std::size_t>(id)];
}

const std::string& BpeTokenizer::id_to_token(TokenId id) const { return check_id(id); }

BpeModel BpeTokenizer::model() const {
  BpeModel m;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (id_kind_[i] & kInModel) m.vocab.emplace_back(tokens_[i], static_cast<TokenId>(i));
  }
  m.merges.reserve(merge_list_.size());
  for (const auto& [a, b] : merge_list_) m.merges.emplace_back(tokens_[a], tokens_[b]);
  m.added_tokens = added_;
  m.options = options_;
  m.unk_token = unk_token_;
  m.fuse_unk = fuse_unk_;
  return m;
}

void BpeTokenizer::clear_cache() const { cache_->clear(); }

// ---- encoding ---------------------------------------------------------------

void BpeTokenizer::bpe(std::string_view word, std::vector<TokenId>& out, Scratch& s) const {
  auto& syms = s.syms;
  auto& heap = s.heap;
  syms.clear();
  heap.clear();
  bool prev_unknown = false;
  for (const char ch : word) {
    const auto b = static_cast<unsigned char>(ch);
    std::int64_t id = byte_ids_[b];
    const bool unknown = id < 0;
    if (unknown && prev_unknown && fuse_unk_) continue;
    prev_unknown = unknown;
    if (unknown) {
      if (!unk_id_) {
        static constexpr char kHex[] = "0123456789abcdef";
        throw Error(std::string("BPE tokenizer: byte 0x") + kHex[b >> 4] + kHex[b & 15] +
                    " has no token in the vocabulary and the model has no unk_token");
      }
      id = *unk_id_;
    }
    const auto pos = static_cast<std::int32_t>(syms.size());
    syms.push_back({static_cast<std::uint32_t>(id), pos - 1, pos + 1, true});
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  if (syms.size() <= kShortWord) {
    // Almost every pre-token of real text is short: there, rescanning a small
    // array for the lowest-ranked pair (leftmost on ties, GPT-2's rule) does
    // fewer merge-table lookups than the heap below and no stale checks.
    std::array<std::uint32_t, kShortWord> ids{}, ranks{}, merged{};
    std::size_t n = syms.size();
    for (std::size_t i = 0; i < n; ++i) ids[i] = syms[i].id;
    auto rank_pair = [&](std::size_t i) {
      const auto* m = merges_->find(ids[i], ids[i + 1]);
      ranks[i] = m != nullptr ? m->rank : UINT32_MAX;
      merged[i] = m != nullptr ? m->new_id : 0;
    };
    for (std::size_t i = 0; i + 1 < n; ++i) rank_pair(i);
    while (n > 1) {
      std::size_t best = 0;
      for (std::size_t i = 1; i + 1 < n; ++i) {
        if (ranks[i] < ranks[best]) best = i;
      }
      if (ranks[best] == UINT32_MAX) break;
      ids[best] = merged[best];
      for (std::size_t j = best + 1; j + 1 < n; ++j) {
        ids[j] = ids[j + 1];
        ranks[j] = ranks[j + 1];
        merged[j] = merged[j + 1];
      }
      --n;
      if (best > 0) rank_pair(best - 1);
      if (best + 1 < n) rank_pair(best);
    }
    for (std::size_t i = 0; i < n; ++i) out.push_back(ids[i]);
    return;
  }

  auto push_candidate = [&](std::int32_t pos) {
    const std::int32_t nxt = syms[static_cast<std::size_t>(pos)].next;
    if (nxt < 0) return;
    if (const auto* m = merges_->find(syms[static_cast<std::size_t>(pos)].id, syms[static_cast<std::size_t>(nxt)].id)) {
      heap.push_back({m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(syms.size()); ++i) push_candidate(i);

  // Always merge the lowest-ranked pair, leftmost first (GPT-2's rule). Heap
  // entries made stale by earlier merges are recognised and dropped.
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Scratch::Candidate c = heap.back();
    heap.pop_back();
    auto& left = syms[static_cast<std::size_t>(c.pos)];
    if (!left.alive || left.next < 0) continue;
    auto& right = syms[static_cast<std::size_t>(left.next)];
    const auto* m = merges_->find(left.id, right.id);
    if (m == nullptr || m->new_id != c.new_id || m->rank != c.rank) continue;
    left.id = c.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) syms[static_cast<std::size_t>(left.next)].prev = c.pos;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(c.pos);
  }
  for (std::int32_t i = 0; i >= 0; i = syms[static_cast<std::size_t>(i)].next) {
    out.push_back(syms[static_cast<std::size_t>(i)].id);
  }
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out, Scratch& s) const {
  if (word.size() == 1) {
    const std::int64_t id = byte_ids_[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const std::uint64_t h = detail::WordCache::hash(word);
  detail::WordCache& cache = *s.cache;
  if (cache.lookup(word, h, out)) return;
  auto& ids = s.word_ids;
  ids.clear();
  bool done = false;
  if (options_.ignore_merges) {
    const auto it = token_ids_.find(bytes_to_byte_level(word));
    if (it != token_ids_.end() && (id_kind_[static_cast<std::size_t>(it->second)] & kInModel)) {
      ids.push_back(it->second);
      done = true;
    }
  }
  if (!done) bpe(word, ids, s);
  cache.insert(word, h, ids, s.writer);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<TokenId>& out, Scratch& s) const {
  if (text.empty()) return;
  if (options_.add_prefix_space && text[0] != ' ') {
    s.prefixed.assign(1, ' ');
    s.prefixed.append(text);
    text = s.prefixed;
  }
  if (!options_.use_regex) {
    encode_word(text, out, s);
    return;
  }
  gpt2_pretokenize(text, [&](std::size_t b, std::size_t e) { encode_word(text.substr(b, e - b), out, s); });
}

void BpeTokenizer::split_added(std::string_view text, const AllowedSpecial& allowed, std::vector<Piece>& pieces) const {
  pieces.clear();
  std::vector<const AddedToken*> enabled;
  for (const auto& a : added_) {
    bool on = !a.special || allowed.is_all();
    if (!on) on = std::find(allowed.names().begin(), allowed.names().end(), a.content) != allowed.names().end();
    if (on) enabled.push_back(&a);
  }
  if (enabled.empty()) {
    pieces.push_back({0, text.size(), -1});
    return;
  }
  std::vector<std::size_t> next(enabled.size(), 0);
  for (std::size_t k = 0; k < enabled.size(); ++k) next[k] = text.find(enabled[k]->content);
  std::size_t cursor = 0;
  while (cursor < text.size()) {
    // Leftmost match; the longest token wins among matches at the same place.
    std::size_t best = std::string_view::npos;
    for (std::size_t k = 0; k < enabled.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < cursor) next[k] = text.find(enabled[k]->content, cursor);
      if (next[k] == std::string_view::npos) continue;
      if (best == std::string_view::npos || next[k] < next[best] ||
          (next[k] == next[best] && enabled[k]->content.size() > enabled[best]->content.size())) {
        best = k;
      }
    }
    if (best == std::string_view::npos) break;
    const AddedToken& tok = *enabled[best];
    std::size_t begin = next[best];
    std::size_t end = begin + tok.content.size();
    if (tok.lstrip) {
      while (begin > cursor) {
        const std::size_t p = utf8_char_start_before(text, begin);
        const Utf8Char c = decode_utf8(text, p);
        if (!c.valid || !is_white_space(c.cp)) break;
        begin = p;
      }
    }
    if (tok.rstrip) {
      while (end < text.size()) {
        const Utf8Char c = decode_utf8(text, end);
        if (!c.valid || !is_white_space(c.cp)) break;
        end += c.len;
      }
    }
    if (begin > cursor) pieces.push_back({cursor, begin, -1});
    pieces.push_back({begin, end, tok.id});
    cursor = end;
  }
  if (cursor < text.size()) pieces.push_back({cursor, text.size(), -1});
}

void BpeTokenizer::encode_into(std::string_view text, const AllowedSpecial& allowed, std::vector<TokenId>& out,
                               Scratch& s) const {
  split_added(text, allowed, s.pieces);
  for (const Piece& p : s.pieces) {
    if (p.id >= 0) {
      out.push_back(p.id);
    } else {
      encode_ordinary(text.substr(p.begin, p.end - p.begin), out, s);
    }
  }
}

namespace {
void check_allowed(const AllowedSpecial& allowed, const std::vector<AddedToken>& added) {
  for (const auto& name : allowed.names()) {
    const bool known = std::any_of(added.begin(), added.end(),
                                   [&](const AddedToken& a) { return a.special && a.content == name; });
    if (!known) throw Error("BPE encode: " + in_quotes(name) + " is not a special token of this tokenizer");
  }
}
}  // namespace

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, const AllowedSpecial& allowed) const {
  check_allowed(allowed, added_);
  const std::shared_ptr<detail::WordCache> cache = cache_->acquire();
  Scratch s;
  s.cache = cache.get();
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  encode_into(text, allowed, out, s);
  return out;
}

std::vector<std::vector<TokenId>> BpeTokenizer::encode_batch(std::span<const std::string> texts,
                                                             const AllowedSpecial& allowed) const {
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  return encode_batch(std::span<const std::string_view>(views), allowed);
}

std::vector<std::vector<TokenId>> BpeTokenizer::encode_batch(std::span<const std::string_view> texts,
                                                             const AllowedSpecial& allowed) const {
  check_allowed(allowed, added_);
  std::vector<std::vector<TokenId>> out(texts.size());
  std::vector<std::exception_ptr> errors(texts.size());
  // Workers take texts one at a time from a shared counter, so uneven texts
  // still balance. Exceptions must not leave a parallel_for body, so each
  // item keeps its own.
  const auto n = static_cast<std::int64_t>(texts.size());
  std::atomic<std::int64_t> next{0};
  // One cache table for all workers: a word merged by one is a lookup for the other.
  const std::shared_ptr<detail::WordCache> cache = cache_->acquire();
  parallel_for(0, std::min<std::int64_t>(n, num_threads()), 1, [&](std::int64_t, std::int64_t) {
    Scratch s;
    s.cache = cache.get();
    for (std::int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
      const auto k = static_cast<std::size_t>(i);
      try {
        // Encoded into a local vector, not into out[k]: neighbouring vector
        // headers share a cache line, and two workers appending to out[k] and
        // out[k + 1] would bounce it between cores on every token.
        std::vector<TokenId> ids;
        ids.reserve(texts[k].size() / 3 + 4);
        encode_into(texts[k], allowed, ids, s);
        out[k] = std::move(ids);
      } catch (...) {
        errors[k] = std::current_exception();
      }
    }
  });
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

std::string BpeTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (const TokenId id : ids) {
    check_id(id);
    const auto i = static_cast<std::size_t>(id);
    if (skip_special && (id_kind_[i] & kInAdded)) {
      const bool special = std::any_of(added_.begin(), added_.end(),
                                       [&](const AddedToken& a) { return a.id == id && a.special; });
      if (special) continue;
    }
    out += token_bytes_[i];
  }
  return out;
}

}  // namespace kiln::text
