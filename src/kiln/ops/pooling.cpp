// Average pooling over 2-d windows (max pooling lives with conv2d in conv.cpp).
// Forward and backward are kernels from ops/pool_kernels.h; like max_pool2d,
// avg_pool2d is differentiable once.
#include <string>

#include "kiln/ops/ops.h"
#include "kiln/ops/pool_kernels.h"
#include "kiln/ops/pooling.h"

namespace kiln {

KernelTable<AvgPool2dKernel>& avg_pool2d_kernels() {
  static KernelTable<AvgPool2dKernel> table("avg_pool2d");
  return table;
}

KernelTable<AvgPool2dBackwardKernel>& avg_pool2d_backward_kernels() {
  static KernelTable<AvgPool2dBackwardKernel> table("avg_pool2d_backward");
  return table;
}

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

std::int64_t pooled_size(const char* axis, std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t pad,
                         const Tensor& x) {
  if (in + 2 * pad < k) {
    throw Error(std::string("avg_pool2d: kernel ") + axis + " " + str(k) + " is larger than the padded input " +
                axis + " " + str(in + 2 * pad) + " of " + x.str());
  }
  return (in + 2 * pad - k) / stride + 1;
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& opt) {
  if (!x.defined()) throw Error("avg_pool2d: undefined input");
  if (x.dim() != 4 && x.dim() != 3) throw Error("avg_pool2d: input must be [N, C, H, W] or [C, H, W], got " + x.str());
  if (!is_floating(x.dtype())) throw Error("avg_pool2d: input must be floating point, got " + x.str());
  const std::int64_t kh = opt.kernel_h, kw = opt.kernel_w;
  const std::int64_t sh = opt.stride_h == 0 ? kh : opt.stride_h, sw = opt.stride_w == 0 ? kw : opt.stride_w;
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || opt.pad_h < 0 || opt.pad_w < 0) {
    throw Error("avg_pool2d: kernel (" + str(kh) + ", " + str(kw) + ") and stride (" + str(sh) + ", " + str(sw) +
                ") must be ≥ 1 and padding (" + str(opt.pad_h) + ", " + str(opt.pad_w) + ") ≥ 0");
  }
  // As in PyTorch: every window then holds at least one real pixel, so no divisor is 0.
  if (2 * opt.pad_h > kh || 2 * opt.pad_w > kw) {
    throw Error("avg_pool2d: padding (" + str(opt.pad_h) + ", " + str(opt.pad_w) +
                ") must be at most half the kernel (" + str(kh) + ", " + str(kw) + ")");
  }
  const Tensor x4 = x.dim() == 4 ? x : x.unsqueeze(0);
  const std::int64_t N = x4.shape()[0], C = x4.shape()[1], H = x4.shape()[2], W = x4.shape()[3];
  const Conv2dGeometry g{.channels = C, .height = H, .width = W, .kh = kh, .kw = kw,
                         .stride_h = sh, .stride_w = sw, .pad_h = opt.pad_h, .pad_w = opt.pad_w,
                         .dil_h = 1, .dil_w = 1,
                         .out_h = pooled_size("height", H, kh, sh, opt.pad_h, x),
                         .out_w = pooled_size("width", W, kw, sw, opt.pad_w, x)};
  const bool include_pad = opt.count_include_pad;
  Tensor out = Tensor::empty({N, C, g.out_h, g.out_w}, x.dtype(), x.device());
  if (out.numel() > 0) {
    NoGradGuard guard;
    avg_pool2d_kernels().get(x.device(), x.dtype())(x4.detach().contiguous().view({N * C, H, W}), g, include_pad,
                                                     out.view({N * C, g.out_h, g.out_w}));
  }
  if (x.dim() == 3) out = out.squeeze(0);
  const Shape in_shape = x.shape();
  const Shape planes{N * C, H, W}, pooled{N * C, g.out_h, g.out_w};
  return record(out, "avg_pool2d", {x}, [g, include_pad, in_shape, planes, pooled](const Tensor& dy) {
    Tensor dx = Tensor::empty(planes, dy.dtype(), dy.device());
    if (dx.numel() > 0) {
      avg_pool2d_backward_kernels().get(dy.device(), dy.dtype())(dy.contiguous().view(pooled), g, include_pad, dx);
    }
    return std::vector<Tensor>{dx.view(in_shape)};
  });
}

}  // namespace kiln
