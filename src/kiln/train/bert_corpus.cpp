#include "kiln/train/bert_corpus.h"

#include <algorithm>

#include "kiln/core/error.h"

namespace kiln::train {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string trimmed(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// True when the line starting at `i` begins, after indentation, with "--".
bool attribution_line(std::string_view text, std::size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  return text.substr(i, 2) == "--";
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  const auto cut = [&](std::size_t end) {
    std::string s = trimmed(text.substr(begin, end - begin));
    if (!s.empty()) out.push_back(std::move(s));
    begin = end;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' || c == '!' || c == '?') {
      std::size_t j = i + 1;
      while (j < text.size() && (text[j] == '.' || text[j] == '!' || text[j] == '?' || text[j] == '"' ||
                                 text[j] == '\'' || text[j] == ')' || text[j] == ']')) {
        ++j;
      }
      if (j == text.size() || is_space(text[j])) {
        cut(j);
        i = j > i ? j - 1 : i;
      }
    } else if (c == '\n') {
      const bool blank = i + 1 < text.size() && text[i + 1] == '\n';
      if (blank || attribution_line(text, i + 1)) cut(i + 1);
    }
  }
  cut(text.size());
  return out;
}

BertCorpus::BertCorpus(const std::vector<std::string>& texts, const text::WordPieceTokenizer& tokenizer) {
  const auto id = [&](const std::string& name) {
    const auto t = tokenizer.token_to_id(name);
    if (!t) throw Error("BERT corpus: the vocabulary has no " + name + " token");
    return static_cast<std::int64_t>(*t);
  };
  const text::WordPieceOptions& o = tokenizer.options();
  special_ = {.cls = id(o.cls_token), .sep = id(o.sep_token), .pad = id(o.pad_token), .mask = id(o.mask_token)};
  vocab_size_ = static_cast<std::int64_t>(tokenizer.vocab_size());
  // Random replacements come from the ordinary tokens: those after the
  // special tokens at the start of the vocabulary (BERT's vocab.txt and the
  // WordPiece trainer both put them first).
  std::int64_t first = 0;
  for (const std::string* s : {&o.pad_token, &o.unk_token, &o.cls_token, &o.sep_token, &o.mask_token}) {
    first = std::max(first, id(*s) + 1);
  }
  first_normal_id_ = first;
  if (first_normal_id_ >= vocab_size_) throw Error("BERT corpus: the vocabulary holds only special tokens");
  for (const std::string& t : texts) {
    std::vector<std::vector<std::int64_t>> doc;
    for (const std::string& s : split_sentences(t)) {
      const auto ids = tokenizer.encode(s);
      if (ids.empty()) continue;
      doc.emplace_back(ids.begin(), ids.end());
      tokens_ += static_cast<std::int64_t>(ids.size());
    }
    if (doc.empty()) continue;
    const auto d = static_cast<std::uint32_t>(docs_.size());
    const std::size_t last_start = doc.size() == 1 ? 1 : doc.size() - 1;
    for (std::size_t s = 0; s < last_start; ++s) starts_.emplace_back(d, static_cast<std::uint32_t>(s));
    docs_.push_back(std::move(doc));
  }
  if (docs_.size() < 2) {
    throw Error("BERT corpus: " + std::to_string(docs_.size()) + " non-empty document(s); next-sentence pairs need at least 2");
  }
}

MaskedBatch BertCorpus::sample(std::int64_t batch_size, std::int64_t max_len, Generator& gen) const {
  if (batch_size < 1) throw Error("BERT corpus: batch_size must be >= 1, got " + std::to_string(batch_size));
  std::vector<BertPair> pairs;
  pairs.reserve(static_cast<std::size_t>(batch_size));
  for (std::int64_t i = 0; i < batch_size; ++i) {
    const auto& [doc, start] = starts_[gen.next_below(starts_.size())];
    pairs.push_back(make_pair(docs_, doc, start, max_len, special_, gen));
  }
  return mask_batch(pairs, vocab_size_, first_normal_id_, special_, gen);
}

}  // namespace kiln::train
