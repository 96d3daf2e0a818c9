#include "kiln/text/bpe_trainer.h"

#include <algorithm>
#include <array>

#include "kiln/core/error.h"
#include "kiln/text/byte_level.h"
#include "kiln/text/merge_learner.h"

namespace kiln::text {

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
  SymbolTable symbols;
  for (const auto& s : options_.special_tokens) symbols.add(s);

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
    byte_id[static_cast<std::size_t>(b)] = symbols.add(ch);
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
  const std::vector<LearnedMerge> merges =
      learn_merges(words, counts, symbols,
                   {.vocab_size = options_.vocab_size,
                    .min_frequency = options_.min_frequency,
                    .join = [](const std::string& a, const std::string& b) { return a + b; }});
  const auto& id_to_word = symbols.tokens;
  const auto& word_to_id = symbols.ids;

  BpeModel model;
  model.options = options_.pre_tokenizer;
  model.vocab.reserve(id_to_word.size());
  for (std::size_t i = 0; i < id_to_word.size(); ++i) model.vocab.emplace_back(id_to_word[i], static_cast<TokenId>(i));
  // A pair merged twice keeps its later rank, as Hugging Face's merge map does.
  const auto key = [](const LearnedMerge& m) { return (std::uint64_t{m.left} << 32) | m.right; };
  std::unordered_map<std::uint64_t, std::size_t> last_rank;
  for (std::size_t r = 0; r < merges.size(); ++r) last_rank[key(merges[r])] = r;
  for (std::size_t r = 0; r < merges.size(); ++r) {
    if (last_rank.at(key(merges[r])) != r) continue;
    model.merges.emplace_back(id_to_word[merges[r].left], id_to_word[merges[r].right]);
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
