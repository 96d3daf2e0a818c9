#pragma once
// Helpers for the tokenizer tests: fixture paths and JSONL reading.
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::text::testing {

inline std::string fixture(const std::string& name) { return std::string(KILN_FIXTURES_DIR) + "/text/" + name; }

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

/// A scratch file path unique to this test process.
inline std::string temp_path(const std::string& name) {
  return (std::string(::testing::TempDir()) + "kiln_text_" + name);
}

}  // namespace kiln::text::testing
