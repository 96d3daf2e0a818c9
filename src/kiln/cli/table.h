#pragma once
// Plain-text tables for command output: columns padded to their widest cell,
// numbers right-aligned.
#include <algorithm>
#include <cstddef>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace kiln::cli {

class Table {
 public:
  /// `right[i]`: right-align column i (numbers).
  Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void print(std::ostream& out, const std::string& indent = "") const {
    std::vector<std::size_t> width(rows_.front().size(), 0);
    for (const auto& r : rows_) {
      for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
    }
    for (const auto& r : rows_) {
      std::string line = indent;
      for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) {
        const std::string pad(width[c] - r[c].size(), ' ');
        const bool last = c + 1 == r.size();
        if (c > 0) line += "  ";
        if (c < right_.size() && right_[c]) {
          line += pad + r[c];
        } else {
          line += r[c] + (last ? "" : pad);
        }
      }
      out << line << '\n';
    }
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace kiln::cli
