#include "kiln/models/hf_config.h"

#include <fstream>
#include <span>

#include "kiln/core/error.h"
#include "kiln/io/file_util.h"

namespace kiln::models {

HfConfig::HfConfig(const std::filesystem::path& path, const std::string& what) : path_(path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + what + " config " + path.string());
  try {
    in >> j_;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  if (!j_.is_object()) fail("the top level must be an object");
}

void HfConfig::fail(const std::string& message) const { throw Error(path_.string() + ": " + message); }

std::int64_t HfConfig::integer(const char* key) const {
  if (!j_.contains(key) || !j_[key].is_number_integer()) fail(std::string("\"") + key + "\" must be an integer");
  return j_[key].get<std::int64_t>();
}

double HfConfig::number(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  if (!j_[key].is_number()) fail(std::string("\"") + key + "\" must be a number");
  return j_[key].get<double>();
}

void HfConfig::expect_model_type(const char* type) const {
  if (j_.contains("model_type") && j_["model_type"] != type) {
    fail("model_type is " + j_["model_type"].dump() + ", expected \"" + type + "\"");
  }
}

void write_hf_json(const std::filesystem::path& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  io::write_file_atomically(path, {std::as_bytes(std::span(text.data(), text.size()))},
                            "Hugging Face " + path.filename().string());
}

}  // namespace kiln::models
