#pragma once
// Which output positions of a sliding window see a real input pixel through a
// given kernel tap, so convolution and pooling loops run branch-free over that range.
#include <algorithm>
#include <cstdint>

namespace kiln::cpu {

struct ValidRange {
  std::int64_t lo, hi;
};

/// Output positions o in [lo, hi) of `out` whose input coordinate
/// o*stride - pad + offset lies in [0, size).
inline ValidRange valid_range(std::int64_t out, std::int64_t size, std::int64_t stride, std::int64_t pad,
                              std::int64_t offset) {
  // Need o*stride >= pad - offset and o*stride <= size - 1 + pad - offset.
  const std::int64_t first = pad - offset;
  const std::int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const std::int64_t last = size - 1 + pad - offset;
  const std::int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(lo, hi), hi};
}

}  // namespace kiln::cpu
