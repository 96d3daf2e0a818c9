#include "kiln/text/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <queue>

#include "kiln/core/error.h"
#include "kiln/text/byte_level.h"

namespace kiln::text {

namespace {

using Pair = std::uint64_t;  // (left id << 32) | right id: numeric order = lexicographic order
Pair make_pair_key(std::uint32_t a, std::uint32_t b) { return (Pair{a} << 32) | b; }
std::uint32_t left_of(Pair p) { return static_cast<std::uint32_t>(p >> 32); }
std::uint32_t right_of(Pair p) { return static_cast<std::uint32_t>(p & 0xFFFFFFFFu); }

// A candidate merge in the priority queue; `pos` indexes the list of words
// that contained the pair when the entry was made.
struct Candidate {
  Pair pair;
  std::int64_t count;
  std::size_t pos;
};
// Highest count first; among equal counts the smallest pair.
struct CandidateLess {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.count != b.count ? a.count < b.count : a.pair > b.pair;
  }
};

struct Change {
  Pair pair;
  int delta;
};

// Replaces every (c1, c2) in `word` by `replacement`, left to right, and
// records how the neighbouring pairs change (Hugging Face's Word::merge).
void merge_word(std::vector<std::uint32_t>& word, std::uint32_t c1, std::uint32_t c2, std::uint32_t replacement,
                std::vector<Change>& changes) {
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (word[i] != c1 || i + 1 >= word.size() || word[i + 1] != c2) continue;
    if (i > 0) {
      changes.push_back({make_pair_key(word[i - 1], c1), -1});
      changes.push_back({make_pair_key(word[i - 1], replacement), 1});
    }
    word[i] = replacement;
    word.erase(word.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (i + 1 < word.size()) {
      changes.push_back({make_pair_key(c2, word[i + 1]), -1});
      changes.push_back({make_pair_key(replacement, word[i + 1]), 1});
    }
  }
}

}  // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : options_(std::move(options)) {
  for (std::size_t i = 0; i < options_.special_tokens.size(); ++i) {
    const auto& s = options_.special_tokens[i];
    if (s.empty()) throw Error("BpeTrainer: special token " + std::to_string(i) + " is empty");
    if (std::find(options_.special_tokens.begin(), options_.special_tokens.begin() + static_cast<std::ptrdiff_t>(i),
                  s) != options_.special_tokens.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw Error("BpeTrainer: special token '" + s + "' is listed twice");
    }
  }
}

void BpeTrainer::add_word(std::string_view word, std::uint64_t count) {
  if (word.empty() || count == 0) return;
  word_counts_[std::string(word)] += count;
}

void BpeTrainer::feed(std::span<const std::string> texts) {
  std::string prefixed;
  for (const auto& text : texts) {
    std::string_view t = text;
    if (t.empty()) continue;
    if (options_.pre_tokenizer.add_prefix_space && t[0] != ' ') {
      prefixed = " " + text;
      t = prefixed;
    }
    if (!options_.pre_tokenizer.use_regex) {
      add_word(t);
      continue;
    }
    gpt2_pretokenize(t, [&](std::size_t b, std::size_t e) { add_word(t.substr(b, e - b)); });
  }
}

BpeTokenizer BpeTrainer::train() const {
  std::vector<std::string> id_to_word;
  std::unordered_map<std::string, std::uint32_t> word_to_id;
  auto add_token = [&](const std::string& tok) {
    if (word_to_id.emplace(tok, static_cast<std::uint32_t>(id_to_word.size())).second) id_to_word.push_back(tok);
  };
  for (const auto& s : options_.special_tokens) add_token(s);

  // The byte alphabet, ordered by the code point of each byte's character.
  const auto& alphabet = byte_to_unicode();
  std::vector<int> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[static_cast<std::size_t>(b)] = b;
  std::sort(bytes.begin(), bytes.end(), [&](int a, int b) {
    return alphabet[static_cast<std::size_t>(a)] < alphabet[static_cast<std::size_t>(b)];
  });
  std::array<std::uint32_t, 256> byte_id{};
  for (const int b : bytes) {
    std::string ch;
    append_utf8(ch, alphabet[static_cast<std::size_t>(b)]);
    add_token(ch);
    byte_id[static_cast<std::size_t>(b)] = word_to_id.at(ch);
  }

  // Words as id sequences; sorted so that training is independent of hash order.
  std::vector<std::pair<std::string, std::uint64_t>> sorted(word_counts_.begin(), word_counts_.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<std::uint32_t>> words;
  std::vector<std::int64_t> counts;
  words.reserve(sorted.size());
  for (const auto& [w, c] : sorted) {
    std::vector<std::uint32_t> ids;
    ids.reserve(w.size());
    for (const char ch : w) ids.push_back(byte_id[static_cast<unsigned char>(ch)]);
    words.push_back(std::move(ids));
    counts.push_back(static_cast<std::int64_t>(c));
  }

  std::unordered_map<Pair, std::int64_t> pair_counts;
  std::unordered_map<Pair, std::vector<std::uint32_t>> where;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto& w = words[i];
    for (std::size_t k = 0; k + 1 < w.size(); ++k) {
      const Pair p = make_pair_key(w[k], w[k + 1]);
      pair_counts[p] += counts[i];
      auto& pos = where[p];
      if (pos.empty() || pos.back() != i) pos.push_back(static_cast<std::uint32_t>(i));
    }
  }
  std::vector<std::vector<std::uint32_t>> positions;  // storage for the candidates' word lists
  std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> queue;
  auto push_where = [&] {
    for (auto& [p, pos] : where) {
      const std::int64_t c = pair_counts[p];
      if (c > 0) {
        std::sort(pos.begin(), pos.end());
        pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
        positions.push_back(std::move(pos));
        queue.push({p, c, positions.size() - 1});
      }
    }
    where.clear();
  };
  push_where();

  std::vector<std::pair<Pair, std::uint32_t>> merges;  // (pair, new id) in merge order
  std::vector<Change> changes;
  while (word_to_id.size() < options_.vocab_size && !queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    const std::int64_t current = pair_counts[top.pair];
    if (top.count != current) {
      // Stale entry: requeue with the up-to-date count.
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || options_.min_frequency > top.count) break;

    const std::uint32_t a = left_of(top.pair);
    const std::uint32_t b = right_of(top.pair);
    const std::string new_token = id_to_word[a] + id_to_word[b];
    add_token(new_token);
    const std::uint32_t new_id = word_to_id.at(new_token);
    merges.emplace_back(top.pair, new_id);

    for (const std::uint32_t wi : positions[top.pos]) {
      changes.clear();
      merge_word(words[wi], a, b, new_id, changes);
      for (const Change& ch : changes) {
        pair_counts[ch.pair] += ch.delta * counts[wi];
        if (ch.delta > 0) where[ch.pair].push_back(wi);
      }
    }
    push_where();
  }

  BpeModel model;
  model.options = options_.pre_tokenizer;
  model.vocab.reserve(id_to_word.size());
  for (std::size_t i = 0; i < id_to_word.size(); ++i) model.vocab.emplace_back(id_to_word[i], static_cast<TokenId>(i));
  // A pair merged twice keeps its later rank, as Hugging Face's merge map does.
  std::unordered_map<Pair, std::size_t> last_rank;
  for (std::size_t r = 0; r < merges.size(); ++r) last_rank[merges[r].first] = r;
  for (std::size_t r = 0; r < merges.size(); ++r) {
    if (last_rank.at(merges[r].first) != r) continue;
    model.merges.emplace_back(id_to_word[left_of(merges[r].first)], id_to_word[right_of(merges[r].first)]);
  }
  for (const auto& s : options_.special_tokens) {
    model.added_tokens.push_back({s, static_cast<TokenId>(word_to_id.at(s)), true, false, false, false, false});
  }
  return BpeTokenizer(model, "BpeTrainer");
}

BpeTokenizer train_byte_level_bpe(std::span<const std::string> texts, const BpeTrainerOptions& options) {
  BpeTrainer trainer(options);
  trainer.feed(texts);
  return trainer.train();
}

}  // namespace kiln::text
