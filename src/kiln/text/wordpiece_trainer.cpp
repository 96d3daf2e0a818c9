#include "kiln/text/wordpiece_trainer.h"

#include <algorithm>
#include <map>

#include "kiln/core/error.h"
#include "kiln/io/file_util.h"
#include "kiln/text/merge_learner.h"
#include "kiln/text/unicode.h"

namespace kiln::text {

namespace {

// The code points of a valid UTF-8 word; an invalid byte stands for itself
// (bert_basic_tokenize keeps each such byte as a word of its own).
std::vector<std::string> characters(const std::string& word) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t len = decode_utf8(word, i).len;
    out.push_back(word.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

WordPieceTrainer::WordPieceTrainer(WordPieceTrainerOptions options) : options_(std::move(options)) {
  const auto& specials = options_.special_tokens;
  for (std::size_t i = 0; i < specials.size(); ++i) {
    if (specials[i].empty()) throw Error("WordPieceTrainer: special token " + std::to_string(i) + " is empty");
    if (std::find(specials.begin(), specials.begin() + static_cast<std::ptrdiff_t>(i), specials[i]) !=
        specials.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw Error("WordPieceTrainer: special token '" + specials[i] + "' is listed twice");
    }
  }
  const WordPieceOptions& t = options_.tokenizer;
  for (const std::string* needed : {&t.unk_token, &t.cls_token, &t.sep_token, &t.pad_token, &t.mask_token}) {
    if (std::find(specials.begin(), specials.end(), *needed) == specials.end()) {
      throw Error("WordPieceTrainer: the tokenizer's special token '" + *needed +
                  "' must be one of the special tokens to train with");
    }
  }
  if (t.continuing_subword_prefix.empty()) throw Error("WordPieceTrainer: continuing_subword_prefix is empty");
}

void WordPieceTrainer::feed(std::span<const std::string> texts) {
  for (const std::string& text : texts) {
    for (std::string& w : bert_basic_tokenize(text, options_.tokenizer.basic)) ++word_counts_[std::move(w)];
  }
}

std::vector<std::string> WordPieceTrainer::train_vocab() const {
  SymbolTable symbols;
  for (const auto& s : options_.special_tokens) symbols.add(s);

  // Words in a fixed order, so that training is independent of hash order.
  std::vector<std::pair<std::string, std::uint64_t>> sorted(word_counts_.begin(), word_counts_.end());
  std::sort(sorted.begin(), sorted.end());

  // The alphabet: the most frequent characters (ties: the smaller string), by code point.
  std::map<std::string, std::uint64_t> char_counts;
  for (const auto& [w, c] : sorted) {
    for (const std::string& ch : characters(w)) char_counts[ch] += c;
  }
  std::vector<std::pair<std::string, std::uint64_t>> alphabet(char_counts.begin(), char_counts.end());
  if (alphabet.size() > options_.limit_alphabet) {
    std::stable_sort(alphabet.begin(), alphabet.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    alphabet.resize(options_.limit_alphabet);
    std::sort(alphabet.begin(), alphabet.end());
  }
  for (const auto& [ch, c] : alphabet) symbols.add(ch);
  const std::size_t alphabet_end = symbols.size();
  const auto in_alphabet = [&](const std::string& ch) {
    const auto it = symbols.ids.find(ch);
    return it != symbols.ids.end() && it->second < alphabet_end && it->second >= options_.special_tokens.size();
  };

  const std::string& prefix = options_.tokenizer.continuing_subword_prefix;
  std::vector<std::vector<std::uint32_t>> words;
  std::vector<std::int64_t> counts;
  words.reserve(sorted.size());
  for (const auto& [w, c] : sorted) {
    std::vector<std::uint32_t> ids;
    bool first = true;
    for (const std::string& ch : characters(w)) {
      if (!in_alphabet(ch)) continue;  // left out of the alphabet: [UNK] when encoding
      ids.push_back(symbols.add(first ? ch : prefix + ch));
      first = false;
    }
    words.push_back(std::move(ids));
    counts.push_back(static_cast<std::int64_t>(c));
  }
  learn_merges(words, counts, symbols,
               {.vocab_size = options_.vocab_size,
                .min_frequency = options_.min_frequency,
                .join = [&prefix](const std::string& a, const std::string& b) {
                  return b.starts_with(prefix) ? a + b.substr(prefix.size()) : a + b;
                }});
  return symbols.tokens;
}

WordPieceTokenizer WordPieceTrainer::train() const {
  return WordPieceTokenizer(train_vocab(), options_.tokenizer, "WordPieceTrainer");
}

void save_vocab_file(const WordPieceTokenizer& tokenizer, const std::filesystem::path& path) {
  std::string text;
  for (std::size_t i = 0; i < tokenizer.vocab_size(); ++i) {
    const std::string& tok = tokenizer.id_to_token(static_cast<TokenId>(i));
    if (tok.find_first_of("\r\n") != std::string::npos) {
      throw Error("vocab.txt " + path.string() + ": token " + std::to_string(i) + " holds a line break");
    }
    text += tok;
    text += '\n';
  }
  io::write_file_atomically(path, {std::as_bytes(std::span(text.data(), text.size()))}, "vocabulary");
}

}  // namespace kiln::text
