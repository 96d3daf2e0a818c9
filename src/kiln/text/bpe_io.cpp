// Loading and saving byte-level BPE tokenizers: GPT-2's encoder.json +
// vocab.bpe, and Hugging Face's tokenizer.json.
#include <nlohmann/json.hpp>

#include "kiln/core/error.h"
#include "kiln/text/bpe_errors.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/escape.h"
#include "kiln/text/file_io.h"

namespace kiln::text {

namespace {

using nlohmann::json;

json parse_json(const std::string& path, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    // Syntax errors (parse_error) and numbers too large for a double
    // (out_of_range 406); nlohmann's message names the place.
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

// Text from a file reaches the user's terminal: control bytes and invalid UTF-8 are escaped.
std::string in_quotes(std::string_view s) { return "'" + escape_for_terminal(s) + "'"; }

std::vector<std::pair<std::string, TokenId>> read_vocab_object(const json& obj, const std::string& where) {
  if (!obj.is_object()) throw Error(where + ": expected a JSON object mapping tokens to ids");
  std::vector<std::pair<std::string, TokenId>> vocab;
  vocab.reserve(obj.size());
  for (const auto& [tok, id] : obj.items()) {
    if (!id.is_number_integer()) {
      throw Error(where + ": token " + in_quotes(tok) + " has id " + id.dump() + ", expected an integer");
    }
    vocab.emplace_back(tok, id.get<TokenId>());
  }
  return vocab;
}

// Builds the tokenizer and turns a bad merge into an error naming its line.
template <class LineOf>
BpeTokenizer build(const BpeModel& model, const std::string& path, LineOf line_of) {
  try {
    return BpeTokenizer(model, path);
  } catch (const detail::BadMerge& e) {
    const std::size_t line = line_of(e.rank());
    throw Error(path + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + e.reason());
  }
}

const json* member(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool bool_member(const json& obj, const char* key, bool fallback, const std::string& where) {
  const json* v = member(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) throw Error(where + "." + key + ": expected true or false, got " + v->dump());
  return v->get<bool>();
}

std::string type_of(const json& component) {
  const json* t = component.is_object() ? member(component, "type") : nullptr;
  return t != nullptr && t->is_string() ? t->get<std::string>() : component.dump();
}

}  // namespace

BpeTokenizer BpeTokenizer::from_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe) {
  return from_gpt2_text(detail::read_file(encoder_json), detail::read_file(vocab_bpe), encoder_json, vocab_bpe);
}

BpeTokenizer BpeTokenizer::from_gpt2_text(std::string_view encoder_json_text, std::string_view merges_text,
                                          const std::string& encoder_json, const std::string& vocab_bpe) {
  BpeModel model;
  model.vocab = read_vocab_object(parse_json(encoder_json, std::string(encoder_json_text)), encoder_json);

  std::vector<std::size_t> lines;  // rank -> 1-based line
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < merges_text.size();) {
    std::size_t eol = merges_text.find('\n', pos);
    if (eol == std::string::npos) eol = merges_text.size();
    std::string_view line(merges_text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      throw Error(vocab_bpe + ":" + std::to_string(line_no) +
                  ": expected a merge as two tokens separated by one space, got " + in_quotes(line));
    }
    model.merges.emplace_back(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
    lines.push_back(line_no);
  }

  for (const auto& [tok, id] : model.vocab) {
    if (tok == "<|endoftext|>") model.added_tokens.push_back({tok, id, true, false, false, false, false});
  }
  return build(model, vocab_bpe, [&](std::size_t rank) { return lines[rank]; });
}

BpeTokenizer BpeTokenizer::from_tokenizer_json(const std::string& path) {
  const std::string text = detail::read_file(path);
  const json root = parse_json(path, text);
  if (!root.is_object()) throw Error(path + ": expected a JSON object at the top level");

  auto unsupported = [&](const std::string& what) {
    return Error(path + ": " + what + " is not supported by kiln's byte-level BPE tokenizer");
  };
  if (const json* n = member(root, "normalizer")) throw unsupported("normalizer " + type_of(*n));
  const json* pre = member(root, "pre_tokenizer");
  if (pre == nullptr || type_of(*pre) != "ByteLevel") {
    throw unsupported("pre_tokenizer " + (pre == nullptr ? std::string("null") : type_of(*pre)) +
                      " (only ByteLevel is)");
  }
  if (const json* dec = member(root, "decoder"); dec != nullptr && type_of(*dec) != "ByteLevel") {
    throw unsupported("decoder " + type_of(*dec));
  }
  if (const json* post = member(root, "post_processor"); post != nullptr && type_of(*post) != "ByteLevel") {
    throw unsupported("post_processor " + type_of(*post));
  }

  BpeModel model;
  model.options.add_prefix_space = bool_member(*pre, "add_prefix_space", true, path + ": pre_tokenizer");
  model.options.use_regex = bool_member(*pre, "use_regex", true, path + ": pre_tokenizer");

  const json* m = member(root, "model");
  if (m == nullptr || !m->is_object()) throw Error(path + ": missing \"model\" object");
  const std::string where = path + ": model";
  if (const json* t = member(*m, "type"); t != nullptr && type_of(*m) != "BPE") throw unsupported("model type " + type_of(*m));
  if (const json* d = member(*m, "dropout"); d != nullptr && !(d->is_number() && d->get<double>() == 0.0)) {
    throw unsupported("BPE dropout " + d->dump());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* v = member(*m, key); v != nullptr && !(v->is_string() && v->get<std::string>().empty())) {
      throw unsupported(std::string("model.") + key + " " + v->dump());
    }
  }
  if (bool_member(*m, "byte_fallback", false, where)) throw unsupported("model.byte_fallback");
  model.options.ignore_merges = bool_member(*m, "ignore_merges", false, where);
  model.fuse_unk = bool_member(*m, "fuse_unk", false, where);
  if (const json* u = member(*m, "unk_token")) {
    if (!u->is_string()) throw Error(where + ".unk_token: expected a string, got " + u->dump());
    model.unk_token = u->get<std::string>();
  }

  const json* vocab = member(*m, "vocab");
  if (vocab == nullptr) throw Error(where + ": missing \"vocab\"");
  model.vocab = read_vocab_object(*vocab, where + ".vocab");

  auto merge_line = [&](std::size_t rank) { return detail::json_array_element_line(text, "merges", rank); };
  auto merge_where = [&](std::size_t rank) {
    const std::size_t line = merge_line(rank);
    return path + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": model.merges[" +
           std::to_string(rank) + "]";
  };
  if (const json* merges = member(*m, "merges")) {
    if (!merges->is_array()) throw Error(where + ".merges: expected an array");
    model.merges.reserve(merges->size());
    for (std::size_t rank = 0; rank < merges->size(); ++rank) {
      const json& e = (*merges)[rank];
      if (e.is_string()) {
        // Legacy form "a b": exactly one space, as Hugging Face requires.
        const auto& s = e.get_ref<const std::string&>();
        const std::size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          throw Error(merge_where(rank) + ": expected \"a b\" (two tokens, one space), got " + e.dump());
        }
        model.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        model.merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        throw Error(merge_where(rank) + ": expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
      }
    }
  }

  if (const json* added = member(root, "added_tokens")) {
    if (!added->is_array()) throw Error(path + ": added_tokens: expected an array");
    for (std::size_t k = 0; k < added->size(); ++k) {
      const json& a = (*added)[k];
      const std::string aw = path + ": added_tokens[" + std::to_string(k) + "]";
      const json* id = a.is_object() ? member(a, "id") : nullptr;
      const json* content = a.is_object() ? member(a, "content") : nullptr;
      if (id == nullptr || !id->is_number_integer() || content == nullptr || !content->is_string()) {
        throw Error(aw + ": expected an object with an integer \"id\" and a string \"content\", got " + a.dump());
      }
      AddedToken tok;
      tok.content = content->get<std::string>();
      tok.id = id->get<TokenId>();
      tok.special = bool_member(a, "special", false, aw);
      tok.lstrip = bool_member(a, "lstrip", false, aw);
      tok.rstrip = bool_member(a, "rstrip", false, aw);
      tok.single_word = bool_member(a, "single_word", false, aw);
      tok.normalized = bool_member(a, "normalized", false, aw);
      model.added_tokens.push_back(std::move(tok));
    }
  }
  try {
    return BpeTokenizer(model, path);
  } catch (const detail::BadMerge& e) {
    throw Error(merge_where(e.rank()) + ": " + e.reason());
  }
}

void BpeTokenizer::save_tokenizer_json(const std::string& path) const {
  using ojson = nlohmann::ordered_json;
  const BpeModel m = model();
  ojson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ojson added = ojson::array();
  for (const auto& a : m.added_tokens) {
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"single_word", a.single_word},
                     {"lstrip", a.lstrip},
                     {"rstrip", a.rstrip},
                     {"normalized", a.normalized},
                     {"special", a.special}});
  }
  root["added_tokens"] = std::move(added);
  root["normalizer"] = nullptr;
  root["pre_tokenizer"] = {{"type", "ByteLevel"},
                           {"add_prefix_space", m.options.add_prefix_space},
                           {"trim_offsets", true},
                           {"use_regex", m.options.use_regex}};
  root["post_processor"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  ojson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = m.unk_token ? ojson(*m.unk_token) : ojson(nullptr);
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = m.fuse_unk;
  model["byte_fallback"] = false;
  model["ignore_merges"] = m.options.ignore_merges;
  // ordered_json's operator[] searches linearly; tokens are unique, so append
  // to the underlying vector directly to keep this linear in the vocab size.
  ojson::object_t vocab;
  auto& entries = static_cast<std::vector<std::pair<const std::string, ojson>>&>(vocab);
  entries.reserve(m.vocab.size());
  for (const auto& [tok, id] : m.vocab) entries.emplace_back(tok, id);
  model["vocab"] = std::move(vocab);
  ojson merges = ojson::array();
  for (const auto& [a, b] : m.merges) merges.push_back(ojson::array({a, b}));
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  std::string out;
  try {
    out = root.dump(2);
  } catch (const ojson::exception& e) {
    throw Error(path + ": cannot write tokenizer.json: " + e.what());
  }
  out.push_back('\n');
  detail::write_file(path, out);
}

}  // namespace kiln::text
