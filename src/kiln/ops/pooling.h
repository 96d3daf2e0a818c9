#pragma once
// Pooling ops beyond ops.h's max_pool2d, defined in ops/pooling.cpp.
#include <cstdint>

#include "kiln/core/tensor.h"

namespace kiln {

/// Window of a 2-d pooling op, set by name: `{.kernel_h = 2, .kernel_w = 2}`.
struct Pool2dOptions {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 0, stride_w = 0;  ///< 0: the kernel size (PyTorch's default)
  std::int64_t pad_h = 0, pad_w = 0;        ///< zero padding on each side, at most half the kernel
  /// Average pooling divides by kh·kw, counting padding as zeros (PyTorch's
  /// default); false divides by the number of real pixels in the window.
  bool count_include_pad = true;
};

/// Mean over each window of x [N, C, H, W] or [C, H, W] → [N, C, out_h, out_w]
/// (or [C, out_h, out_w]), out = ⌊(in + 2·pad - kernel) / stride⌋ + 1 per axis.
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt);

}  // namespace kiln
