#pragma once
// Reading command inputs: whole files or standard input ("-"), with errors
// that name the file.
#include <string>
#include <string_view>
#include <vector>

namespace kiln::cli {

/// One input: its name as given ("-" shows as "<stdin>") and its bytes.
struct Input {
  std::string name;
  std::string data;
};

/// Reads every path in `paths` (standard input for "-" or when `paths` is
/// empty). Throws kiln::Error "<path>: <problem>" for a missing, unreadable or
/// directory path; standard input may be read only once.
std::vector<Input> read_inputs(const std::vector<std::string>& paths);

/// Splits `text` into lines without their '\n'; a final line without '\n'
/// counts, the empty string after a final '\n' does not.
std::vector<std::string_view> split_lines(std::string_view text);

}  // namespace kiln::cli
