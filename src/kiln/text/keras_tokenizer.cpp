#include "kiln/text/keras_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "kiln/core/error.h"
#include "kiln/text/unicode.h"

namespace kiln::text {

namespace {

// Python's str.split(sep) for a non-empty sep, minus the empty pieces.
std::vector<std::string> split_nonempty(std::u32string_view s, std::u32string_view sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t at = s.find(sep, start);
    if (at == std::u32string_view::npos) at = s.size();
    if (at > start) out.push_back(u32_to_utf8(s.substr(start, at - start)));
    start = at + sep.size();
  }
  return out;
}

std::vector<std::string> word_sequence(std::u32string text, std::u32string_view filters, bool lower,
                                       std::u32string_view split) {
  if (lower) text = to_lower(text);
  std::u32string translated;
  translated.reserve(text.size());
  for (const char32_t c : text) {
    if (filters.find(c) != std::u32string_view::npos) {
      translated.append(split);
    } else {
      translated.push_back(c);
    }
  }
  return split_nonempty(translated, split);
}

}  // namespace

MatrixMode matrix_mode_from_name(std::string_view name) {
  if (name == "binary") return MatrixMode::binary;
  if (name == "count") return MatrixMode::count;
  if (name == "freq") return MatrixMode::freq;
  if (name == "tfidf") return MatrixMode::tfidf;
  throw Error("texts_to_matrix: unknown mode '" + std::string(name) + "' (expected binary, count, freq or tfidf)");
}

std::vector<std::string> text_to_word_sequence(std::string_view text, std::string_view filters, bool lower,
                                               std::string_view split) {
  if (split.empty()) throw Error("text_to_word_sequence: split must not be empty");
  return word_sequence(utf8_to_u32(text, "text_to_word_sequence: text"), utf8_to_u32(filters, "filters"), lower,
                       utf8_to_u32(split, "split"));
}

KerasTokenizer::KerasTokenizer(KerasTokenizerConfig config) : config_(std::move(config)) {
  if (config_.split.empty()) throw Error("KerasTokenizer: split must not be empty");
  if (config_.num_words && *config_.num_words < 0) {
    throw Error("KerasTokenizer: num_words must be >= 0, got " + std::to_string(*config_.num_words));
  }
  filters32_ = utf8_to_u32(config_.filters, "KerasTokenizer: filters");
  split32_ = utf8_to_u32(config_.split, "KerasTokenizer: split");
}

std::vector<std::string> KerasTokenizer::tokens_of(std::string_view text, std::size_t index, const char* what) const {
  std::u32string s = utf8_to_u32(text, std::string(what) + ": text " + std::to_string(index));
  if (config_.char_level) {
    if (config_.lower) s = to_lower(s);
    std::vector<std::string> chars;
    chars.reserve(s.size());
    for (const char32_t c : s) chars.push_back(u32_to_utf8(std::u32string_view(&c, 1)));
    return chars;
  }
  return word_sequence(std::move(s), filters32_, config_.lower, split32_);
}

void KerasTokenizer::fit_on_texts(std::span<const std::string> texts) {
  for (std::size_t t = 0; t < texts.size(); ++t) {
    ++document_count_;
    const std::vector<std::string> seq = tokens_of(texts[t], t, "KerasTokenizer::fit_on_texts");
    for (const auto& w : seq) {
      const auto [it, inserted] = count_slot_.try_emplace(w, word_counts_.size());
      if (inserted) {
        word_counts_.emplace_back(w, 1);
      } else {
        ++word_counts_[it->second].second;
      }
    }
    for (const auto& w : std::unordered_set<std::string>(seq.begin(), seq.end())) ++word_docs_[w];
  }

  // Rank by count, ties in first-seen order (Python's sort is stable).
  std::vector<std::pair<std::string, std::int64_t>> ranked = word_counts_;
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> sorted_voc;
  sorted_voc.reserve(ranked.size() + 1);
  if (config_.oov_token) sorted_voc.push_back(*config_.oov_token);
  for (auto& [w, c] : ranked) sorted_voc.push_back(std::move(w));
  // dict(zip(sorted_voc, range(1, ...))): a repeated word keeps its last index.
  word_index_.clear();
  for (std::size_t i = 0; i < sorted_voc.size(); ++i) {
    word_index_.insert_or_assign(sorted_voc[i], static_cast<std::int64_t>(i + 1));
  }
  index_word_.clear();
  for (const auto& [w, i] : word_index_) index_word_[i] = w;
  // Assignment, not accumulation, exactly as Keras does.
  for (const auto& [w, c] : word_docs_) index_docs_[word_index_.at(w)] = c;
  fitted_ = true;
}

void KerasTokenizer::fit_on_sequences(std::span<const std::vector<std::int64_t>> sequences) {
  document_count_ += static_cast<std::int64_t>(sequences.size());
  for (const auto& seq : sequences) {
    for (const std::int64_t i : std::unordered_set<std::int64_t>(seq.begin(), seq.end())) ++index_docs_[i];
  }
}

std::optional<std::int64_t> KerasTokenizer::oov_index() const {
  if (!config_.oov_token) return std::nullopt;
  const auto it = word_index_.find(*config_.oov_token);
  if (it == word_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::vector<std::int64_t>> KerasTokenizer::texts_to_sequences(std::span<const std::string> texts) const {
  if (!fitted_) throw Error("KerasTokenizer::texts_to_sequences: call fit_on_texts first");
  const std::int64_t limit = config_.num_words.value_or(0);
  const std::optional<std::int64_t> oov = oov_index();
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(texts.size());
  for (std::size_t t = 0; t < texts.size(); ++t) {
    std::vector<std::int64_t> vect;
    for (const auto& w : tokens_of(texts[t], t, "KerasTokenizer::texts_to_sequences")) {
      const auto it = word_index_.find(w);
      if (it != word_index_.end()) {
        if (limit != 0 && it->second >= limit) {
          if (oov) vect.push_back(*oov);
        } else {
          vect.push_back(it->second);
        }
      } else if (oov) {
        vect.push_back(*oov);
      }
    }
    out.push_back(std::move(vect));
  }
  return out;
}

std::vector<std::string> KerasTokenizer::sequences_to_texts(std::span<const std::vector<std::int64_t>> sequences) const {
  if (!fitted_) throw Error("KerasTokenizer::sequences_to_texts: call fit_on_texts first");
  const std::int64_t limit = config_.num_words.value_or(0);
  const std::optional<std::int64_t> oov = oov_index();
  std::vector<std::string> out;
  out.reserve(sequences.size());
  for (const auto& seq : sequences) {
    std::string text;
    bool first = true;
    auto append = [&](const std::string& w) {
      if (!first) text.push_back(' ');
      text += w;
      first = false;
    };
    for (const std::int64_t num : seq) {
      const auto it = index_word_.find(num);
      if (it != index_word_.end()) {
        if (limit != 0 && num >= limit) {
          if (oov) append(index_word_.at(*oov));
        } else {
          append(it->second);
        }
      } else if (oov) {
        append(index_word_.at(*oov));
      }
    }
    out.push_back(std::move(text));
  }
  return out;
}

Matrix<double> KerasTokenizer::texts_to_matrix(std::span<const std::string> texts, MatrixMode mode) const {
  return sequences_to_matrix(texts_to_sequences(texts), mode);
}

Matrix<double> KerasTokenizer::sequences_to_matrix(std::span<const std::vector<std::int64_t>> sequences,
                                                   MatrixMode mode) const {
  std::int64_t cols = config_.num_words.value_or(0);
  if (cols == 0) {
    if (word_index_.empty()) {
      throw Error("KerasTokenizer::sequences_to_matrix: specify num_words, or fit on some text data first");
    }
    cols = static_cast<std::int64_t>(word_index_.size()) + 1;
  }
  if (mode == MatrixMode::tfidf && document_count_ == 0) {
    throw Error("KerasTokenizer::sequences_to_matrix: fit on some data before using tfidf mode");
  }
  Matrix<double> x;
  x.rows = static_cast<std::int64_t>(sequences.size());
  x.cols = cols;
  x.values.assign(static_cast<std::size_t>(x.rows * x.cols), 0.0);
  for (std::int64_t i = 0; i < x.rows; ++i) {
    const auto& seq = sequences[static_cast<std::size_t>(i)];
    if (seq.empty()) continue;
    std::vector<std::pair<std::int64_t, std::int64_t>> counts;  // (index, count) in first-seen order
    std::unordered_map<std::int64_t, std::size_t> slot;
    for (const std::int64_t j : seq) {
      if (j >= cols) continue;
      const auto [it, inserted] = slot.try_emplace(j, counts.size());
      if (inserted) {
        counts.emplace_back(j, 1);
      } else {
        ++counts[it->second].second;
      }
    }
    for (const auto& [j, c] : counts) {
      // NumPy semantics: a negative index counts from the end of the row.
      const std::int64_t col = j < 0 ? j + cols : j;
      if (col < 0) {
        throw Error("KerasTokenizer::sequences_to_matrix: index " + std::to_string(j) + " is out of range for " +
                    std::to_string(cols) + " columns");
      }
      double v = 0.0;
      switch (mode) {
        case MatrixMode::count:
          v = static_cast<double>(c);
          break;
        case MatrixMode::freq:
          v = static_cast<double>(c) / static_cast<double>(seq.size());
          break;
        case MatrixMode::binary:
          v = 1.0;
          break;
        case MatrixMode::tfidf: {
          // Weighting scheme 2 of https://en.wikipedia.org/wiki/Tf-idf, as in Keras.
          const double tf = 1.0 + std::log(static_cast<double>(c));
          const auto d = index_docs_.find(j);
          const double docs = d == index_docs_.end() ? 0.0 : static_cast<double>(d->second);
          const double idf = std::log(1.0 + static_cast<double>(document_count_) / (1.0 + docs));
          v = tf * idf;
          break;
        }
      }
      x(i, col) = v;
    }
  }
  return x;
}

Matrix<std::int64_t> pad_sequences(std::span<const std::vector<std::int64_t>> sequences,
                                   std::optional<std::int64_t> maxlen, std::string_view padding,
                                   std::string_view truncating, std::int64_t value) {
  if (padding != "pre" && padding != "post") {
    throw Error("pad_sequences: padding '" + std::string(padding) + "' not understood (expected pre or post)");
  }
  if (truncating != "pre" && truncating != "post") {
    throw Error("pad_sequences: truncating '" + std::string(truncating) + "' not understood (expected pre or post)");
  }
  if (maxlen && *maxlen < 0) throw Error("pad_sequences: maxlen must be >= 0, got " + std::to_string(*maxlen));
  std::int64_t len = 0;
  if (maxlen) {
    len = *maxlen;
  } else {
    if (sequences.empty()) throw Error("pad_sequences: cannot infer maxlen from zero sequences");
    for (const auto& s : sequences) len = std::max(len, static_cast<std::int64_t>(s.size()));
  }
  Matrix<std::int64_t> x;
  x.rows = static_cast<std::int64_t>(sequences.size());
  x.cols = len;
  x.values.assign(static_cast<std::size_t>(x.rows * x.cols), value);
  for (std::int64_t i = 0; i < x.rows; ++i) {
    const auto& s = sequences[static_cast<std::size_t>(i)];
    if (s.empty()) continue;
    if (len == 0) {
      // Keras' s[-0:] keeps the whole sequence, which then cannot fit a zero-width row.
      throw Error("pad_sequences: maxlen is 0 but sequence " + std::to_string(i) + " has " +
                  std::to_string(s.size()) + " elements");
    }
    const auto n = static_cast<std::int64_t>(s.size());
    const std::int64_t keep = std::min(n, len);
    const std::int64_t src = truncating == "pre" ? n - keep : 0;
    const std::int64_t dst = padding == "pre" ? len - keep : 0;
    std::copy(s.begin() + src, s.begin() + src + keep, x.values.begin() + i * len + dst);
  }
  return x;
}

}  // namespace kiln::text
