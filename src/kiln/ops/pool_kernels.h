#pragma once
// Kernel tables of average pooling (the pooling family beside ops/kernels.h,
// which holds max pooling). Windows are described by the Conv2dGeometry of
// ops/kernels.h with dilation 1; the op layer (ops/pooling.cpp) hands kernels
// the input as contiguous planes [P, H, W] (P = N·C).
#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"
#include "kiln/ops/kernels.h"

namespace kiln {

// x contiguous [P, H, W] → y contiguous [P, out_h, out_w]: each window's sum
// divided by kh·kw when count_include_pad (padding counts as zeros), else by
// the number of input pixels the window covers.
using AvgPool2dKernel = void(const Tensor& x, const Conv2dGeometry& g, bool count_include_pad, const Tensor& y);
// dy contiguous [P, out_h, out_w] → dx contiguous [P, H, W], overwritten with
// the adjoint: each input pixel gets dy/divisor from every window covering it.
using AvgPool2dBackwardKernel = void(const Tensor& dy, const Conv2dGeometry& g, bool count_include_pad,
                                     const Tensor& dx);

KernelTable<AvgPool2dKernel>& avg_pool2d_kernels();
KernelTable<AvgPool2dBackwardKernel>& avg_pool2d_backward_kernels();

}  // namespace kiln
