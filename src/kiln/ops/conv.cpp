// 2-d convolution and 2-d max pooling.
//
// conv2d runs on the backend's direct convolution kernels (ops/conv_kernels.h)
// where it registers them for the dtype; oneDNN's on the CPU for f32, which
// beat im2col + GEMM there (bench/cnn_vs_torch.sh). Everywhere else it lowers
// to im2col + GEMM, below:
//
// each image [C, H, W] becomes cols [C*kh*kw, oh*ow], multiplied by weight
// viewed as [O, C*kh*kw]; the GEMM is the matmul kernel. Images go through in
// chunks so the cols buffer stays bounded, and backward recomputes cols
// instead of keeping them alive between passes.
//
// Grouped convolution needs no kernel of its own: cols rows are ordered by
// channel, so group k's rows are the contiguous block k of cols viewed as
// [groups, C/groups*kh*kw, L], and the weight viewed as [groups, O/groups,
// C/groups*kh*kw] multiplies them block by block in one batched GEMM per image
// (batched over groups instead of over images).
#include <algorithm>
#include <string>

#include "kiln/ops/conv_kernels.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

KernelTable<Conv2dForwardKernel>& conv2d_forward_kernels() {
  static KernelTable<Conv2dForwardKernel> table("conv2d_forward");
  return table;
}

KernelTable<Conv2dBackwardKernel>& conv2d_backward_kernels() {
  static KernelTable<Conv2dBackwardKernel> table("conv2d_backward");
  return table;
}

namespace {

// Upper bound on the elements of one chunk's cols buffer (64 MiB in f32).
constexpr std::int64_t kMaxColsElements = std::int64_t{1} << 24;

std::string str(std::int64_t v) { return std::to_string(v); }

// PyTorch's output size: floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1.
std::int64_t out_size(const char* op, const char* axis, std::int64_t in, std::int64_t k, std::int64_t stride,
                      std::int64_t pad, std::int64_t dil, const Tensor& x) {
  const std::int64_t span = dil * (k - 1) + 1;
  if (in + 2 * pad < span) {
    throw Error(std::string(op) + ": kernel " + axis + " extent " + str(span) + " (size " + str(k) + ", dilation " +
                str(dil) + ") is larger than the padded input " + axis + " " + str(in + 2 * pad) + " of " + x.str());
  }
  return (in + 2 * pad - span) / stride + 1;
}

Conv2dGeometry conv_geometry(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  const char* op = "conv2d";
  if (o.stride_h < 1 || o.stride_w < 1 || o.dil_h < 1 || o.dil_w < 1 || o.pad_h < 0 || o.pad_w < 0) {
    throw Error("conv2d: stride (" + str(o.stride_h) + ", " + str(o.stride_w) + ") and dilation (" + str(o.dil_h) +
                ", " + str(o.dil_w) + ") must be ≥ 1 and padding (" + str(o.pad_h) + ", " + str(o.pad_w) +
                ") ≥ 0");
  }
  const std::int64_t C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::int64_t kh = w.shape()[2], kw = w.shape()[3];
  return Conv2dGeometry{.channels = C, .height = H, .width = W, .kh = kh, .kw = kw,
                        .stride_h = o.stride_h, .stride_w = o.stride_w, .pad_h = o.pad_h, .pad_w = o.pad_w,
                        .dil_h = o.dil_h, .dil_w = o.dil_w,
                        .out_h = out_size(op, "height", H, kh, o.stride_h, o.pad_h, o.dil_h, x),
                        .out_w = out_size(op, "width", W, kw, o.stride_w, o.pad_w, o.dil_w, x)};
}

void check_conv_args(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t groups) {
  if (!x.defined() || !w.defined()) throw Error("conv2d: undefined input or weight");
  if (groups < 1) throw Error("conv2d: groups must be ≥ 1, got " + str(groups));
  if (x.dim() != 4) throw Error("conv2d: input must be 4-d [N, C, H, W], got " + x.str());
  if (w.dim() != 4) throw Error("conv2d: weight must be 4-d [O, C/groups, kh, kw], got " + w.str());
  if (x.dtype() != w.dtype() || (b.defined() && b.dtype() != x.dtype())) {
    throw Error("conv2d: dtype mismatch between input " + x.str() + ", weight " + w.str() +
                (b.defined() ? ", bias " + b.str() : std::string()));
  }
  if (x.device() != w.device() || (b.defined() && b.device() != x.device())) {
    throw Error("conv2d: input, weight and bias must be on the same device (input on " + x.device().str() +
                ", weight on " + w.device().str() + ")");
  }
  if (x.shape()[1] != w.shape()[1] * groups) {
    throw Error("conv2d: input " + x.str() + " has " + str(x.shape()[1]) + " channels but weight " + w.str() +
                " with groups=" + str(groups) + " expects " + str(w.shape()[1] * groups));
  }
  if (w.shape()[0] % groups != 0) {
    throw Error("conv2d: weight " + w.str() + " has " + str(w.shape()[0]) +
                " output channels, not divisible by groups=" + str(groups));
  }
  if (w.shape()[0] == 0 || w.shape()[2] == 0 || w.shape()[3] == 0) {
    throw Error("conv2d: weight " + w.str() + " has an empty dimension");
  }
  if (b.defined() && (b.dim() != 1 || b.shape()[0] != w.shape()[0])) {
    throw Error("conv2d: bias " + b.str() + " must be [" + str(w.shape()[0]) + "] to match weight " + w.str());
  }
}

std::int64_t chunk_images(std::int64_t n, std::int64_t cols_per_image) {
  return std::clamp<std::int64_t>(kMaxColsElements / std::max<std::int64_t>(cols_per_image, 1), 1,
                                  std::max<std::int64_t>(n, 1));
}

// cols [n1-n0, C*kh*kw, L] for images n0..n1 of the contiguous input xc.
Tensor im2col_chunk(const Tensor& xc, const Conv2dGeometry& g, std::int64_t n0, std::int64_t n1) {
  const std::int64_t CK = g.channels * g.kh * g.kw, L = g.out_h * g.out_w;
  Tensor cols = Tensor::empty({n1 - n0, CK, L}, xc.dtype(), xc.device());
  auto im2col = im2col_kernels().get(xc.device(), xc.dtype());
  for (std::int64_t n = n0; n < n1; ++n) {
    im2col(xc.slice(0, n, n + 1).squeeze(0), g, cols.slice(0, n - n0, n - n0 + 1).squeeze(0));
  }
  return cols;
}

// out [N, O, oh, ow] = conv2d(xc, w) (+ bias) as im2col + GEMM; xc contiguous.
void conv2d_forward_gemm(const Tensor& xc, const Tensor& w, const Tensor& bias, const Conv2dGeometry& g,
                         std::int64_t groups, const Tensor& out) {
  const std::int64_t N = xc.shape()[0], O = w.shape()[0];
  const std::int64_t CK = g.channels * g.kh * g.kw, L = g.out_h * g.out_w;
  const std::int64_t Og = O / groups, CKg = CK / groups;
  const Tensor w3 = w.contiguous().view({groups, Og, CKg});
  const Tensor out3 = out.view({N, O, L});
  auto gemm = matmul_kernels().get(xc.device(), xc.dtype());
  const std::int64_t step = chunk_images(N, CK * L);
  for (std::int64_t n0 = 0; n0 < N; n0 += step) {
    const std::int64_t n1 = std::min(N, n0 + step);
    const Tensor cols = im2col_chunk(xc, g, n0, n1);
    if (groups == 1) {
      // One batched GEMM per chunk: [O, CK] (broadcast) · [nb, CK, L] → [nb, O, L].
      gemm(w3.expand({n1 - n0, O, CK}), cols, out3.slice(0, n0, n1), false);
    } else {
      // Per image, batched over groups: [g, O/g, CK/g] · [g, CK/g, L] → [g, O/g, L].
      for (std::int64_t n = n0; n < n1; ++n) {
        gemm(w3, cols.slice(0, n - n0, n - n0 + 1).view({groups, CKg, L}),
             out3.slice(0, n, n + 1).view({groups, Og, L}), false);
      }
    }
  }
  if (bias.defined()) {
    Tensor o = out;
    add_(o, bias.reshape({1, O, 1, 1}));
  }
}

// dx (zeroed) and dw of conv2d given gy [N, O, oh*ow] contiguous, as im2col + GEMM.
void conv2d_backward_gemm(const Tensor& gy, const Tensor& x, const Tensor& w, const Conv2dGeometry& g,
                          std::int64_t groups, const Tensor& dx, const Tensor& dw) {
  const std::int64_t N = x.shape()[0], O = w.shape()[0];
  const std::int64_t CK = g.channels * g.kh * g.kw, L = g.out_h * g.out_w;
  const std::int64_t Og = O / groups, CKg = CK / groups;
  const Tensor w3 = w.contiguous().view({groups, Og, CKg});
  const Tensor dw3 = dw.defined() ? dw.view({groups, Og, CKg}) : Tensor();
  auto gemm = matmul_kernels().get(x.device(), x.dtype());
  const Tensor xc = dw.defined() ? x.contiguous() : Tensor();
  const std::int64_t step = chunk_images(N, CK * L);
  auto col2im = col2im_kernels().get(x.device(), x.dtype());
  for (std::int64_t n0 = 0; n0 < N; n0 += step) {
    const std::int64_t n1 = std::min(N, n0 + step), nb = n1 - n0;
    if (dw.defined()) {
      // dW += dy_n · cols_nᵀ, one image at a time into the same [groups, O/groups, CK/groups] buffer.
      const Tensor cols = im2col_chunk(xc, g, n0, n1);
      for (std::int64_t n = 0; n < nb; ++n) {
        gemm(gy.slice(0, n0 + n, n0 + n + 1).view({groups, Og, L}),
             cols.slice(0, n, n + 1).view({groups, CKg, L}).transpose(1, 2), dw3, n0 + n > 0);
      }
    }
    if (dx.defined()) {
      // dcols = Wᵀ · dy, then scatter back: for the whole chunk at once (W
      // broadcast over images) without groups, else per image over groups.
      Tensor dcols = Tensor::empty({nb, CK, L}, x.dtype(), x.device());
      if (groups == 1) {
        gemm(w3.expand({nb, O, CK}).transpose(1, 2), gy.slice(0, n0, n1), dcols, false);
      } else {
        for (std::int64_t n = 0; n < nb; ++n) {
          gemm(w3.transpose(1, 2), gy.slice(0, n0 + n, n0 + n + 1).view({groups, Og, L}),
               dcols.slice(0, n, n + 1).view({groups, CKg, L}), false);
        }
      }
      for (std::int64_t n = 0; n < nb; ++n) {
        col2im(dcols.slice(0, n, n + 1).squeeze(0), g, dx.slice(0, n0 + n, n0 + n + 1).squeeze(0));
      }
    }
  }
  if (dw.defined() && N == 0) {
    Tensor d = dw;
    fill_(d, 0.0);
  }
}

// Whether the backend runs conv2d on x's device and dtype as one direct kernel
// (an empty batch always takes the GEMM path, which needs no special case).
bool use_direct_kernels(const Tensor& x) {
  return x.numel() > 0 && conv2d_forward_kernels().supports(x.device().kind, x.dtype()) &&
         conv2d_backward_kernels().supports(x.device().kind, x.dtype());
}

// The gradients of conv2d given dy [N, O, oh, ow]. No graph is recorded: conv2d
// is differentiable once (enough for training and gradient checks).
std::vector<Tensor> conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Conv2dGeometry& g,
                                    std::int64_t groups, bool gx, bool gw, bool gb) {
  NoGradGuard guard;
  const std::int64_t N = x.shape()[0], O = w.shape()[0];
  if (use_direct_kernels(x)) {
    const Tensor dx = gx ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    const Tensor dw = gw ? Tensor::empty(w.shape(), w.dtype(), w.device()) : Tensor();
    const Tensor db = gb ? Tensor::empty({O}, w.dtype(), w.device()) : Tensor();
    conv2d_backward_kernels().get(x.device(), x.dtype())(dy.contiguous(), x.contiguous(), w.contiguous(), g, groups,
                                                         dx, dw, db);
    return {dx, dw, db};
  }
  const Tensor dx = gx ? Tensor::zeros(x.shape(), x.dtype(), x.device()) : Tensor();
  const Tensor dw = gw ? Tensor::empty(w.shape(), w.dtype(), w.device()) : Tensor();
  conv2d_backward_gemm(dy.contiguous().view({N, O, g.out_h * g.out_w}), x, w, g, groups, dx, dw);
  return {dx, dw, gb ? sum(dy, {0, 2, 3}) : Tensor()};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const std::int64_t groups = opt.groups;
  check_conv_args(x, weight, bias, groups);
  const Conv2dGeometry g = conv_geometry(x, weight, opt);
  Tensor out = Tensor::empty({x.shape()[0], weight.shape()[0], g.out_h, g.out_w}, x.dtype(), x.device());
  {
    NoGradGuard guard;
    const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    if (use_direct_kernels(x)) {
      conv2d_forward_kernels().get(x.device(), x.dtype())(x.contiguous(), weight.contiguous(), b, g, groups, out);
    } else {
      conv2d_forward_gemm(x.contiguous(), weight, b, g, groups, out);
    }
  }
  const Tensor xd = x.detach(), wd = weight.detach();
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  return record(out, "conv2d", {x, weight, bias}, [xd, wd, g, groups, gx, gw, gb](const Tensor& dy) {
    return conv2d_backward(dy, xd, wd, g, groups, gx, gw, gb);
  });
}

Tensor max_pool2d(const Tensor& x, std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t stride_h,
                  std::int64_t stride_w, std::int64_t pad_h, std::int64_t pad_w) {
  const char* op = "max_pool2d";
  if (!x.defined()) throw Error("max_pool2d: undefined input");
  if (x.dim() != 4 && x.dim() != 3) throw Error("max_pool2d: input must be [N, C, H, W] or [C, H, W], got " + x.str());
  if (!is_floating(x.dtype())) throw Error("max_pool2d: input must be floating point, got " + x.str());
  if (stride_h == 0) stride_h = kernel_h;
  if (stride_w == 0) stride_w = kernel_w;
  if (kernel_h < 1 || kernel_w < 1 || stride_h < 1 || stride_w < 1 || pad_h < 0 || pad_w < 0) {
    throw Error("max_pool2d: kernel (" + str(kernel_h) + ", " + str(kernel_w) + ") and stride (" + str(stride_h) +
                ", " + str(stride_w) + ") must be ≥ 1 and padding (" + str(pad_h) + ", " + str(pad_w) + ") ≥ 0");
  }
  // As in PyTorch: every window then holds at least one real pixel.
  if (2 * pad_h > kernel_h || 2 * pad_w > kernel_w) {
    throw Error("max_pool2d: padding (" + str(pad_h) + ", " + str(pad_w) + ") must be at most half the kernel (" +
                str(kernel_h) + ", " + str(kernel_w) + ")");
  }
  const Tensor x4 = x.dim() == 4 ? x : x.unsqueeze(0);
  const std::int64_t N = x4.shape()[0], C = x4.shape()[1], H = x4.shape()[2], W = x4.shape()[3];
  const Conv2dGeometry g{.channels = C, .height = H, .width = W, .kh = kernel_h, .kw = kernel_w,
                         .stride_h = stride_h, .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w,
                         .dil_h = 1, .dil_w = 1,
                         .out_h = out_size(op, "height", H, kernel_h, stride_h, pad_h, 1, x),
                         .out_w = out_size(op, "width", W, kernel_w, stride_w, pad_w, 1, x)};
  Tensor out = Tensor::empty({N, C, g.out_h, g.out_w}, x.dtype(), x.device());
  Tensor idx = Tensor::empty({N * C, g.out_h, g.out_w}, DType::i64, x.device());
  {
    NoGradGuard guard;
    max_pool2d_kernels().get(x.device(), x.dtype())(x4.contiguous().view({N * C, H, W}), g,
                                                     out.view({N * C, g.out_h, g.out_w}), idx);
  }
  if (x.dim() == 3) out = out.squeeze(0);
  const Shape in_shape = x.shape();
  const Shape planes{N * C, H, W};
  return record(out, "max_pool2d", {x}, [idx, in_shape, planes](const Tensor& dy) {
    Tensor dx = Tensor::zeros(planes, dy.dtype(), dy.device());
    max_pool2d_backward_kernels().get(dy.device(), dy.dtype())(dy.contiguous().view(idx.shape()), idx, dx);
    return std::vector<Tensor>{dx.view(in_shape)};
  });
}

}  // namespace kiln
