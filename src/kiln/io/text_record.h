#pragma once
// The record the text-data readers (CSV, JSONL) yield.
#include <cstddef>
#include <utility>
#include <string>
#include <vector>

namespace kiln::io {

/// One labelled text example.
struct TextRecord {
  std::string text;
  std::string label;     ///< empty when the reader was given no label column/field
  std::size_t line = 0;  ///< the 1-based line of the file where the record starts
};

/// Every record a text-data reader (CsvReader, JsonlReader) yields, in order.
template <class Reader>
std::vector<TextRecord> read_all_records(Reader& reader) {
  std::vector<TextRecord> out;
  TextRecord r;
  while (reader.next(r)) out.push_back(std::move(r));
  return out;
}

}  // namespace kiln::io
