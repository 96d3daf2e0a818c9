#pragma once
// The record the text-data readers (CSV, JSONL) yield.
#include <cstddef>
#include <string>

namespace kiln::io {

/// One labelled text example.
struct TextRecord {
  std::string text;
  std::string label;     ///< empty when the reader was given no label column/field
  std::size_t line = 0;  ///< the 1-based line of the file where the record starts
};

}  // namespace kiln::io
