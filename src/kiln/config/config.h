#pragma once
// Experiment configs: TOML (through toml++) or JSON files read into one tree,
// and a typed, path-aware view of it. Every error names the file, the key path
// ("model.layers[2].filters") and the problem; keys a reader does not know are
// errors, listing the keys it does know, so a typo never passes silently.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::config {

class Node {
 public:
  Node(const nlohmann::json& value, std::string path, std::string file);

  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  bool is_table() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool is_string() const { return value_->is_string(); }
  bool has(const std::string& key) const;

  /// The child `key` of this table; throws naming the path if it is absent.
  Node at(const std::string& key) const;
  std::optional<Node> find(const std::string& key) const;
  /// The elements of this array.
  std::vector<Node> elements() const;

  /// Typed values. Integers accept whole numbers only; doubles accept integers.
  std::int64_t as_int() const;
  double as_double() const;
  bool as_bool() const;
  std::string as_string() const;
  std::vector<std::int64_t> as_int_list() const;  ///< an integer or an array of integers
  std::vector<std::string> as_string_list() const;

  std::int64_t get_int(const std::string& key, std::int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

  /// Throws naming the first key of this table not in `known`, and the known ones.
  void allow_only(std::initializer_list<const char*> known) const;
  void allow_only(const std::vector<std::string>& known) const;

  /// "file: path: message" as an exception to throw.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string child_path(const std::string& key) const;
  std::string type_name() const;

  const nlohmann::json* value_;
  std::string path_;
  std::string file_;
};

/// A loaded config: owns the tree that Nodes view.
class Document {
 public:
  /// Parses `path` as TOML (.toml) or JSON (.json); errors name the file, line
  /// and column. The top level must be a table.
  static Document load(const std::filesystem::path& path);
  /// Parses text (for tests): `format` is "toml" or "json".
  static Document parse(const std::string& text, const std::string& format, const std::string& name);

  Node root() const { return Node(*tree_, "", name_); }
  const nlohmann::json& tree() const { return *tree_; }

 private:
  std::shared_ptr<nlohmann::json> tree_;
  std::string name_;
};

}  // namespace kiln::config
