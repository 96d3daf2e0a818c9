#include "kiln/text/char_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "kiln/core/error.h"
#include "kiln/text/file_io.h"
#include "kiln/text/unicode.h"

namespace kiln::text {

CharTokenizer::CharTokenizer(CharTokenizerOptions options)
    : options_(std::move(options)), special_(options_.special_tokens) {
  for (std::size_t i = 0; i < special_.size(); ++i) {
    if (std::find(special_.begin(), special_.begin() + static_cast<std::ptrdiff_t>(i), special_[i]) !=
        special_.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw Error("CharTokenizer: special token '" + special_[i] + "' is listed twice");
    }
  }
  if (options_.unk_token) {
    unk_id_ = special_token_id(*options_.unk_token);
    if (!unk_id_) throw Error("CharTokenizer: unk_token '" + *options_.unk_token + "' is not one of the special tokens");
  }
  if (options_.min_frequency < 1) {
    throw Error("CharTokenizer: min_frequency must be >= 1, got " + std::to_string(options_.min_frequency));
  }
  if (options_.max_vocab_size && *options_.max_vocab_size < static_cast<std::int64_t>(special_.size())) {
    throw Error("CharTokenizer: max_vocab_size " + std::to_string(*options_.max_vocab_size) +
                " is smaller than the " + std::to_string(special_.size()) + " special tokens");
  }
}

std::optional<TokenId> CharTokenizer::special_token_id(std::string_view name) const {
  const auto it = std::find(special_.begin(), special_.end(), name);
  if (it == special_.end()) return std::nullopt;
  return static_cast<TokenId>(it - special_.begin());
}

void CharTokenizer::fit(std::span<const std::string> texts) {
  // Count into a copy so that a bad text leaves the tokenizer unchanged.
  auto counts = counts_;
  for (std::size_t t = 0; t < texts.size(); ++t) {
    for (const char32_t cp : utf8_to_u32(texts[t], "CharTokenizer::fit: text " + std::to_string(t))) ++counts[cp];
  }
  counts_ = std::move(counts);
  rebuild();
}

void CharTokenizer::rebuild() {
  std::vector<std::pair<char32_t, std::int64_t>> ranked;
  for (const auto& [cp, n] : counts_) {
    if (n >= options_.min_frequency) ranked.emplace_back(cp, n);
  }
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  if (options_.max_vocab_size) {
    const auto room = static_cast<std::size_t>(*options_.max_vocab_size) - special_.size();
    if (ranked.size() > room) ranked.resize(room);
  }
  chars_.clear();
  ids_.clear();
  for (const auto& [cp, n] : ranked) {
    ids_.emplace(cp, static_cast<TokenId>(special_.size() + chars_.size()));
    chars_.push_back(cp);
  }
}

std::optional<TokenId> CharTokenizer::char_to_id(char32_t cp) const {
  const auto it = ids_.find(cp);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

char32_t CharTokenizer::id_to_char(TokenId id) const {
  const auto k = static_cast<TokenId>(special_.size());
  if (id < k || id >= static_cast<TokenId>(vocab_size())) {
    throw Error("CharTokenizer: id " + std::to_string(id) + " names no character (characters have ids " +
                std::to_string(k) + ".." + std::to_string(static_cast<TokenId>(vocab_size()) - 1) + ")");
  }
  return chars_[static_cast<std::size_t>(id - k)];
}

std::vector<TokenId> CharTokenizer::encode(std::string_view text) const {
  std::vector<TokenId> out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const Utf8Char c = decode_utf8(text, i);
    if (!c.valid) {
      throw Error("CharTokenizer::encode: invalid UTF-8 byte at byte offset " + std::to_string(i));
    }
    if (const auto id = char_to_id(c.cp)) {
      out.push_back(*id);
    } else if (unk_id_) {
      out.push_back(*unk_id_);
    } else {
      std::string ch;
      append_utf8(ch, c.cp);
      throw Error("CharTokenizer::encode: character '" + ch + "' at byte offset " + std::to_string(i) +
                  " is not in the vocabulary and there is no unk_token");
    }
    i += c.len;
  }
  return out;
}

std::string CharTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string out;
  out.reserve(ids.size() * 3);
  const auto k = static_cast<TokenId>(special_.size());
  for (const TokenId id : ids) {
    if (id >= 0 && id < k) {
      if (!skip_special) out += special_[static_cast<std::size_t>(id)];
      continue;
    }
    append_utf8(out, id_to_char(id));
  }
  return out;
}

void CharTokenizer::save(const std::string& path) const {
  nlohmann::ordered_json j;
  j["type"] = "kiln.CharTokenizer";
  j["special_tokens"] = special_;
  j["unk_token"] = options_.unk_token ? nlohmann::ordered_json(*options_.unk_token) : nlohmann::ordered_json(nullptr);
  j["min_frequency"] = options_.min_frequency;
  j["max_vocab_size"] =
      options_.max_vocab_size ? nlohmann::ordered_json(*options_.max_vocab_size) : nlohmann::ordered_json(nullptr);
  // Characters in id order with their counts (a later fit() adds to them).
  auto chars = nlohmann::ordered_json::array();
  for (const char32_t cp : chars_) {
    std::string s;
    append_utf8(s, cp);
    chars.push_back({s, counts_.at(cp)});
  }
  j["chars"] = std::move(chars);
  std::string text;
  try {
    text = j.dump(1);
  } catch (const nlohmann::ordered_json::exception& e) {
    throw Error(path + ": cannot write character tokenizer: " + e.what());
  }
  detail::write_file(path, text + "\n");
}

CharTokenizer CharTokenizer::load(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(detail::read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
  try {
    if (j.value("type", std::string()) != "kiln.CharTokenizer") {
      throw Error(path + ": not a kiln character tokenizer (\"type\" is not \"kiln.CharTokenizer\")");
    }
    CharTokenizerOptions o;
    o.special_tokens = j.at("special_tokens").get<std::vector<std::string>>();
    o.unk_token = j.at("unk_token").is_null() ? std::nullopt : std::optional(j.at("unk_token").get<std::string>());
    o.min_frequency = j.at("min_frequency").get<std::int64_t>();
    if (!j.at("max_vocab_size").is_null()) o.max_vocab_size = j.at("max_vocab_size").get<std::int64_t>();
    CharTokenizer tok(std::move(o));
    const auto& chars = j.at("chars");
    for (std::size_t i = 0; i < chars.size(); ++i) {
      const auto s = chars[i].at(0).get<std::string>();
      const std::u32string cps = utf8_to_u32(s, path + ": chars[" + std::to_string(i) + "]");
      if (cps.size() != 1) throw Error(path + ": chars[" + std::to_string(i) + "] is not a single character");
      if (!tok.ids_.emplace(cps[0], static_cast<TokenId>(tok.special_.size() + i)).second) {
        throw Error(path + ": chars[" + std::to_string(i) + "] repeats '" + s + "'");
      }
      tok.chars_.push_back(cps[0]);
      tok.counts_[cps[0]] = chars[i].at(1).get<std::int64_t>();
    }
    return tok;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed character tokenizer: " + e.what());
  }
}

}  // namespace kiln::text
