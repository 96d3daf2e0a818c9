#include "kiln/text/wordpiece.h"

#include <algorithm>

#include "kiln/core/error.h"
#include "kiln/text/file_io.h"
#include "kiln/text/unicode.h"

namespace kiln::text {

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)), source_(source) {
  ids_.reserve(vocab_.size());
  // A repeated token keeps its last id, as transformers' load_vocab does.
  for (std::size_t i = 0; i < vocab_.size(); ++i) ids_.insert_or_assign(vocab_[i], static_cast<TokenId>(i));
  const auto unk = ids_.find(options_.unk_token);
  if (unk == ids_.end()) {
    throw Error(source_ + ": unknown token '" + options_.unk_token + "' is not in the vocabulary");
  }
  unk_id_ = unk->second;
  if (options_.max_input_chars_per_word == 0) throw Error(source_ + ": max_input_chars_per_word must be > 0");
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, WordPieceOptions options) {
  const std::string text = detail::read_file(path);
  std::vector<std::string> vocab;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!is_valid_utf8(line)) throw Error(path + ":" + std::to_string(line_no) + ": token is not valid UTF-8");
    vocab.emplace_back(line);
  }
  if (vocab.empty()) throw Error(path + ": vocabulary file is empty");
  return WordPieceTokenizer(std::move(vocab), std::move(options), path);
}

std::optional<TokenId> WordPieceTokenizer::token_to_id(std::string_view token) const {
  const auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& WordPieceTokenizer::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab_.size()) {
    throw Error("WordPiece: id " + std::to_string(id) + " is outside the vocabulary (size " +
                std::to_string(vocab_.size()) + ")");
  }
  return vocab_[static_cast<std::size_t>(id)];
}

TokenId WordPieceTokenizer::required(const std::string& token) const {
  const auto id = token_to_id(token);
  if (!id) throw Error(source_ + ": special token '" + token + "' is not in the vocabulary");
  return *id;
}

std::vector<std::string> WordPieceTokenizer::special_tokens() const {
  return {options_.unk_token, options_.cls_token, options_.sep_token, options_.pad_token, options_.mask_token};
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<TokenId>& out) const {
  if (!is_valid_utf8(word)) {
    out.push_back(unk_id_);
    return;
  }
  // Byte offsets of every character boundary (pieces never split a character).
  std::vector<std::size_t> bounds;
  for (std::size_t i = 0; i < word.size();) {
    bounds.push_back(i);
    i += decode_utf8(word, i).len;
  }
  bounds.push_back(word.size());
  const std::size_t chars = bounds.size() - 1;
  if (chars > options_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  const std::size_t first = out.size();
  std::string candidate;
  std::size_t start = 0;
  while (start < chars) {
    std::size_t end = chars;
    std::optional<TokenId> found;
    while (end > start) {
      candidate.clear();
      if (start > 0) candidate = options_.continuing_subword_prefix;
      candidate.append(word, bounds[start], bounds[end] - bounds[start]);
      if (const auto it = ids_.find(candidate); it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (!found) {
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(*found);
    start = end;
  }
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text, const AllowedSpecial& allowed) const {
  std::vector<std::string> enabled;
  const auto specials = special_tokens();
  for (const auto& name : allowed.names()) {
    if (std::find(specials.begin(), specials.end(), name) == specials.end()) {
      throw Error("WordPiece encode: '" + name + "' is not a special token of this tokenizer");
    }
  }
  for (const auto& s : specials) {
    const bool on = allowed.is_all() ||
                    std::find(allowed.names().begin(), allowed.names().end(), s) != allowed.names().end();
    if (on && token_to_id(s)) enabled.push_back(s);
  }

  std::vector<TokenId> out;
  auto encode_plain = [&](std::string_view part) {
    for (const auto& w : bert_basic_tokenize(part, options_.basic)) wordpiece(w, out);
  };
  std::size_t cursor = 0;
  while (cursor < text.size() && !enabled.empty()) {
    // Leftmost special token, the longest among those starting there.
    std::size_t best_pos = std::string_view::npos;
    const std::string* best = nullptr;
    for (const auto& s : enabled) {
      const std::size_t p = text.find(s, cursor);
      if (p == std::string_view::npos) continue;
      if (p < best_pos || (p == best_pos && s.size() > best->size())) {
        best_pos = p;
        best = &s;
      }
    }
    if (best == nullptr) break;
    encode_plain(text.substr(cursor, best_pos - cursor));
    out.push_back(*token_to_id(*best));
    cursor = best_pos + best->size();
  }
  if (cursor < text.size()) encode_plain(text.substr(cursor));
  return out;
}

BertEncoding WordPieceTokenizer::encode_for_model(std::string_view a, std::optional<std::string_view> b) const {
  const TokenId cls = required(options_.cls_token);
  const TokenId sep = required(options_.sep_token);
  BertEncoding enc;
  enc.ids.push_back(cls);
  const auto ia = encode(a);
  enc.ids.insert(enc.ids.end(), ia.begin(), ia.end());
  enc.ids.push_back(sep);
  enc.token_type_ids.assign(enc.ids.size(), 0);
  if (b) {
    const auto ib = encode(*b);
    enc.ids.insert(enc.ids.end(), ib.begin(), ib.end());
    enc.ids.push_back(sep);
    enc.token_type_ids.resize(enc.ids.size(), 1);
  }
  return enc;
}

std::string WordPieceTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  const auto specials = special_tokens();
  const std::string& prefix = options_.continuing_subword_prefix;
  std::string out;
  for (const TokenId id : ids) {
    const std::string& tok = id_to_token(id);
    if (skip_special && std::find(specials.begin(), specials.end(), tok) != specials.end()) continue;
    if (!prefix.empty() && tok.size() >= prefix.size() && tok.compare(0, prefix.size(), prefix) == 0 && !out.empty()) {
      out.append(tok, prefix.size());
    } else {
      if (!out.empty()) out.push_back(' ');
      out += tok;
    }
  }
  return out;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (const TokenId id : encode(text)) pieces.push_back(vocab_[static_cast<std::size_t>(id)]);
  return pieces;
}

}  // namespace kiln::text
