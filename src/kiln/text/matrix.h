#pragma once
// A small row-major matrix returned by the text utilities. It keeps kiln/text
// independent of the tensor engine; callers copy it into a Tensor if needed.
#include <cstdint>
#include <vector>

namespace kiln::text {

template <class T>
struct Matrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<T> values;  // rows * cols, row-major

  T operator()(std::int64_t r, std::int64_t c) const { return values[static_cast<std::size_t>(r * cols + c)]; }
  T& operator()(std::int64_t r, std::int64_t c) { return values[static_cast<std::size_t>(r * cols + c)]; }
};

}  // namespace kiln::text
