#pragma once
// Kernel tables of whole 2-d convolutions (the conv family beside
// ops/kernels.h, which holds the im2col / col2im pieces). A backend registers
// these for the dtypes where a direct convolution beats im2col + GEMM; for the
// others ops/conv.cpp lowers conv2d to im2col + GEMM itself. Tensors stay NCHW
// at this boundary: a kernel that prefers another layout reorders inside.
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"
#include "kiln/ops/kernels.h"

namespace kiln {

// x contiguous [N, C, H, W], w contiguous [O, C/groups, kh, kw], b contiguous
// [O] or undefined → y contiguous [N, O, out_h, out_w], overwritten.
using Conv2dForwardKernel = void(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g,
                                 std::int64_t groups, const Tensor& y);
// dy contiguous [N, O, out_h, out_w], x and w as in the forward pass. Each
// output is overwritten, and undefined when not wanted: dx contiguous
// [N, C, H, W], dw contiguous [O, C/groups, kh, kw], db contiguous [O].
using Conv2dBackwardKernel = void(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2dGeometry& g,
                                  std::int64_t groups, const Tensor& dx, const Tensor& dw, const Tensor& db);

KernelTable<Conv2dForwardKernel>& conv2d_forward_kernels();
KernelTable<Conv2dBackwardKernel>& conv2d_backward_kernels();

}  // namespace kiln
