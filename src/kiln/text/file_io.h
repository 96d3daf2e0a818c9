#pragma once
// Small file helpers shared by the tokenizer loaders.
#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::text::detail {

/// Whole file as bytes; throws kiln::Error naming the path when it cannot be read.
std::string read_file(const std::string& path);
/// Writes bytes to a file, replacing it; throws kiln::Error naming the path on failure.
void write_file(const std::string& path, std::string_view data);

/// 1-based line on which element `index` of the JSON array stored under the
/// first `"key": [` in `json` starts, or 0 if not found. Used only to point
/// error messages at the offending line.
std::size_t json_array_element_line(std::string_view json, std::string_view key, std::size_t index);

}  // namespace kiln::text::detail
