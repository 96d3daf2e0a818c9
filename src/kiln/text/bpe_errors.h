#pragma once
// Internal: the BPE constructor reports a bad merge by rank so that the file
// loaders can rethrow it with the file name and line of that merge.
#include <cstddef>
#include <string>

#include "kiln/core/error.h"

namespace kiln::text::detail {

class BadMerge : public Error {
 public:
  BadMerge(std::size_t rank, const std::string& reason) : Error(reason), rank_(rank), reason_(reason) {}
  std::size_t rank() const { return rank_; }
  const std::string& reason() const { return reason_; }

 private:
  std::size_t rank_;
  std::string reason_;
};

}  // namespace kiln::text::detail
