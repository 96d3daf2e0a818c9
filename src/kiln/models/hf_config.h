#pragma once
// Reading and writing a Hugging Face config.json, shared by the GPT-2 and BERT
// loaders: every error names the file and the key.
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace kiln::models {

class HfConfig {
 public:
  /// Opens and parses `path` (`what` names the model in "cannot open" errors).
  HfConfig(const std::filesystem::path& path, const std::string& what);

  const nlohmann::json& json() const { return j_; }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  /// The integer at `key`; throws when absent or not an integer.
  std::int64_t integer(const char* key) const;
  /// The number at `key`, or `fallback` when absent or null.
  double number(const char* key, double fallback) const;
  /// Throws "<file>: <message>".
  [[noreturn]] void fail(const std::string& message) const;
  /// Throws unless model_type is absent or equals `type`.
  void expect_model_type(const char* type) const;
  /// Runs config.validate(), rethrowing its error with the file name.
  template <class Config>
  void validate(const Config& config) const {
    try {
      config.validate();
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }

 private:
  std::filesystem::path path_;
  nlohmann::json j_;
};

/// Writes `j` (indented) to `path` atomically.
void write_hf_json(const std::filesystem::path& path, const nlohmann::json& j);

}  // namespace kiln::models
