#pragma once
// A weight matrix in q8_0, ggml's 8-bit block format (each run of 32 values
// along a row is stored as 32 int8 quants q and one f16 scale d, value q·d),
// laid out for the CPU's int8 dot products. linear() reads it in place of the
// f32 weight under WeightFormatGuard(q8_0) (ops/quantized_weights.h).
#include <cstdint>

#include "kiln/core/tensor.h"

namespace kiln {

struct Q8_0Weight {
  static constexpr std::int64_t kBlock = 32;  ///< values per quantization block

  /// u8 [N, K]: quant q (-127..127) of element (n, k), stored as q + 128
  /// (offset binary) because the VNNI dot product multiplies unsigned bytes by
  /// signed ones: W is the unsigned operand, read straight from memory.
  Tensor quants;
  /// f16 [N, K / 32]: the scale d of each block (ggml rounds it to f16 too).
  Tensor scales;

  std::int64_t rows() const { return quants.shape()[0]; }
  std::int64_t cols() const { return quants.shape()[1]; }
};

}  // namespace kiln
