#include "kiln/config/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "kiln/core/error.h"

namespace kiln::config {

namespace {

nlohmann::json to_json(const toml::node& n, const std::string& path, const std::string& file) {
  if (const auto* t = n.as_table()) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [k, v] : *t) {
      const std::string key(k.str());
      obj[key] = to_json(v, path.empty() ? key : path + "." + key, file);
    }
    return obj;
  }
  if (const auto* a = n.as_array()) {
    nlohmann::json arr = nlohmann::json::array();
    std::size_t i = 0;
    for (const auto& v : *a) arr.push_back(to_json(v, path + "[" + std::to_string(i++) + "]", file));
    return arr;
  }
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return i->get();
  if (const auto* f = n.as_floating_point()) return f->get();
  if (const auto* b = n.as_boolean()) return b->get();
  throw Error(file + ": " + path + ": dates and times are not supported in kiln configs");
}

}  // namespace

Node::Node(const nlohmann::json& value, std::string path, std::string file)
    : value_(&value), path_(std::move(path)), file_(std::move(file)) {}

void Node::fail(const std::string& message) const {
  throw Error(file_ + ": " + (path_.empty() ? std::string("top level") : path_) + ": " + message);
}

std::string Node::child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

std::string Node::type_name() const {
  switch (value_->type()) {
    case nlohmann::json::value_t::object: return "a table";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "null";
  }
}

bool Node::has(const std::string& key) const { return value_->is_object() && value_->contains(key); }

Node Node::at(const std::string& key) const {
  if (!value_->is_object()) fail("expected a table, got " + type_name());
  const auto it = value_->find(key);
  if (it == value_->end()) Node(*value_, child_path(key), file_).fail("required key is missing");
  return Node(*it, child_path(key), file_);
}

std::optional<Node> Node::find(const std::string& key) const {
  if (!value_->is_object()) fail("expected a table, got " + type_name());
  const auto it = value_->find(key);
  if (it == value_->end()) return std::nullopt;
  return Node(*it, child_path(key), file_);
}

std::vector<Node> Node::elements() const {
  if (!value_->is_array()) fail("expected an array, got " + type_name());
  std::vector<Node> out;
  for (std::size_t i = 0; i < value_->size(); ++i) out.emplace_back((*value_)[i], path_ + "[" + std::to_string(i) + "]", file_);
  return out;
}

std::int64_t Node::as_int() const {
  if (value_->is_number_integer() || value_->is_number_unsigned()) {
    if (value_->is_number_unsigned() && value_->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      fail("integer " + value_->dump() + " is too large");
    }
    return value_->get<std::int64_t>();
  }
  if (value_->is_number_float()) {
    const double d = value_->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  fail("expected an integer, got " + type_name() + " (" + value_->dump() + ")");
}

double Node::as_double() const {
  if (value_->is_number()) return value_->get<double>();
  fail("expected a number, got " + type_name() + " (" + value_->dump() + ")");
}

bool Node::as_bool() const {
  if (value_->is_boolean()) return value_->get<bool>();
  fail("expected true or false, got " + type_name() + " (" + value_->dump() + ")");
}

std::string Node::as_string() const {
  if (value_->is_string()) return value_->get<std::string>();
  fail("expected a string, got " + type_name() + " (" + value_->dump() + ")");
}

std::vector<std::int64_t> Node::as_int_list() const {
  if (!value_->is_array()) return {as_int()};
  std::vector<std::int64_t> out;
  for (const Node& e : elements()) out.push_back(e.as_int());
  return out;
}

std::vector<std::string> Node::as_string_list() const {
  if (!value_->is_array()) return {as_string()};
  std::vector<std::string> out;
  for (const Node& e : elements()) out.push_back(e.as_string());
  return out;
}

std::int64_t Node::get_int(const std::string& key, std::int64_t fallback) const {
  const auto n = find(key);
  return n ? n->as_int() : fallback;
}
double Node::get_double(const std::string& key, double fallback) const {
  const auto n = find(key);
  return n ? n->as_double() : fallback;
}
bool Node::get_bool(const std::string& key, bool fallback) const {
  const auto n = find(key);
  return n ? n->as_bool() : fallback;
}
std::string Node::get_string(const std::string& key, const std::string& fallback) const {
  const auto n = find(key);
  return n ? n->as_string() : fallback;
}

void Node::allow_only(std::initializer_list<const char*> known) const {
  allow_only(std::vector<std::string>(known.begin(), known.end()));
}

void Node::allow_only(const std::vector<std::string>& known) const {
  if (!value_->is_object()) fail("expected a table, got " + type_name());
  for (const auto& [k, v] : value_->items()) {
    bool ok = false;
    for (const auto& name : known) ok = ok || name == k;
    if (ok) continue;
    std::string list;
    for (const auto& name : known) list += (list.empty() ? "" : ", ") + name;
    Node(v, child_path(k), file_).fail("unknown key (known keys here: " + list + ")");
  }
}

Document Document::parse(const std::string& text, const std::string& format, const std::string& name) {
  Document d;
  d.name_ = name;
  if (format == "toml") {
    try {
      const toml::table t = toml::parse(text, name);
      d.tree_ = std::make_shared<nlohmann::json>(to_json(t, "", name));
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      throw Error(name + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                  ": TOML syntax error: " + std::string(e.description()));
    }
  } else if (format == "json") {
    try {
      d.tree_ = std::make_shared<nlohmann::json>(nlohmann::json::parse(text));
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(name + ": JSON syntax error at byte " + std::to_string(e.byte) + ": " + e.what());
    }
  } else {
    throw Error(name + ": unknown config format '" + format + "' (use .toml or .json)");
  }
  if (!d.tree_->is_object()) throw Error(name + ": the top level of a config must be a table");
  return d;
}

Document Document::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    throw Error("config '" + path.string() + "': " +
                (std::filesystem::exists(path, ec) ? "cannot be read" : "file does not exist"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string ext = path.extension().string();
  if (ext != ".toml" && ext != ".json") {
    throw Error("config '" + path.string() + "': unknown extension '" + ext + "' (use .toml or .json)");
  }
  return parse(text.str(), ext.substr(1), path.string());
}

}  // namespace kiln::config
