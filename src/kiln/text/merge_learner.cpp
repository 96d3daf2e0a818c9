#include "kiln/text/merge_learner.h"

#include <queue>

#include "kiln/core/error.h"

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

std::uint32_t SymbolTable::add(const std::string& token) {
  const auto [it, inserted] = ids.emplace(token, static_cast<std::uint32_t>(tokens.size()));
  if (inserted) tokens.push_back(token);
  return it->second;
}

std::vector<LearnedMerge> learn_merges(std::vector<std::vector<std::uint32_t>>& words,
                                       const std::vector<std::int64_t>& counts, SymbolTable& symbols,
                                       const MergeLearnerOptions& options) {
  if (words.size() != counts.size()) {
    throw Error("learn_merges: " + std::to_string(words.size()) + " words but " + std::to_string(counts.size()) + " counts");
  }
  if (!options.join) throw Error("learn_merges: no join function");
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

  std::vector<LearnedMerge> merges;
  std::vector<Change> changes;
  while (symbols.size() < options.vocab_size && !queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    const std::int64_t current = pair_counts[top.pair];
    if (top.count != current) {
      // Stale entry: requeue with the up-to-date count.
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || options.min_frequency > top.count) break;

    const std::uint32_t a = left_of(top.pair);
    const std::uint32_t b = right_of(top.pair);
    const std::uint32_t new_id = symbols.add(options.join(symbols.tokens[a], symbols.tokens[b]));
    merges.push_back({a, b, new_id});

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
  return merges;
}

}  // namespace kiln::text
