// Convolution and pooling helpers on the CPU: im2col / col2im (the GEMM itself
// is the matmul kernel) and 2-d max pooling with saved argmax indices.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

// Output positions o in [lo, hi) whose input coordinate o*stride - pad + offset
// lies in [0, size): the loops below then run branch-free over that range.
struct ValidRange {
  std::int64_t lo, hi;
};
ValidRange valid_range(std::int64_t out, std::int64_t size, std::int64_t stride, std::int64_t pad, std::int64_t offset) {
  // Need o*stride >= pad - offset and o*stride <= size - 1 + pad - offset.
  const std::int64_t first = pad - offset;
  const std::int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const std::int64_t last = size - 1 + pad - offset;
  const std::int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(lo, hi), hi};
}

// image contiguous [C, H, W] → cols contiguous [C*kh*kw, out_h*out_w]; row
// r = (c*kh + i)*kw + j holds the input pixel each output position sees through
// kernel tap (i, j), zero where that tap falls in the padding.
template <class T>
void im2col_kernel(const Tensor& image, const Conv2dGeometry& g, const Tensor& cols) {
  const T* src = image.data<T>();
  T* dst = cols.data<T>();
  const std::int64_t rows = g.channels * g.kh * g.kw, L = g.out_h * g.out_w;
  parallel_for(0, rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(L, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t r = b; r < e; ++r) {
                   const std::int64_t c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
                   const T* plane = src + c * g.height * g.width;
                   T* out = dst + r * L;
                   const ValidRange ys = valid_range(g.out_h, g.height, g.stride_h, g.pad_h, i * g.dil_h);
                   const ValidRange xs = valid_range(g.out_w, g.width, g.stride_w, g.pad_w, j * g.dil_w);
                   std::fill(out, out + ys.lo * g.out_w, T{});
                   for (std::int64_t oy = ys.lo; oy < ys.hi; ++oy) {
                     T* orow = out + oy * g.out_w;
                     const T* irow = plane + (oy * g.stride_h - g.pad_h + i * g.dil_h) * g.width;
                     const std::int64_t x0 = j * g.dil_w - g.pad_w;
                     std::fill(orow, orow + xs.lo, T{});
                     if (g.stride_w == 1) {
                       std::copy(irow + xs.lo + x0, irow + xs.hi + x0, orow + xs.lo);
                     } else {
                       for (std::int64_t ox = xs.lo; ox < xs.hi; ++ox) orow[ox] = irow[ox * g.stride_w + x0];
                     }
                     std::fill(orow + xs.hi, orow + g.out_w, T{});
                   }
                   std::fill(out + ys.hi * g.out_w, out + L, T{});
                 }
               });
}

// cols contiguous [C*kh*kw, out_h*out_w]; image contiguous [C, H, W] += the
// adjoint of im2col. One channel's taps only touch that channel's plane, so
// channels run in parallel without write conflicts.
template <class T>
void col2im_kernel(const Tensor& cols, const Conv2dGeometry& g, const Tensor& image) {
  const T* src = cols.data<T>();
  T* dst = image.data<T>();
  const std::int64_t L = g.out_h * g.out_w;
  parallel_for(0, g.channels, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; ++c) {
      T* plane = dst + c * g.height * g.width;
      for (std::int64_t i = 0; i < g.kh; ++i) {
        for (std::int64_t j = 0; j < g.kw; ++j) {
          const T* in = src + ((c * g.kh + i) * g.kw + j) * L;
          const ValidRange ys = valid_range(g.out_h, g.height, g.stride_h, g.pad_h, i * g.dil_h);
          const ValidRange xs = valid_range(g.out_w, g.width, g.stride_w, g.pad_w, j * g.dil_w);
          const std::int64_t x0 = j * g.dil_w - g.pad_w;
          for (std::int64_t oy = ys.lo; oy < ys.hi; ++oy) {
            const T* crow = in + oy * g.out_w;
            T* irow = plane + (oy * g.stride_h - g.pad_h + i * g.dil_h) * g.width;
            for (std::int64_t ox = xs.lo; ox < xs.hi; ++ox) {
              T& d = irow[ox * g.stride_w + x0];
              d = convert<T>(load(d) + load(crow[ox]));
            }
          }
        }
      }
    }
  });
}

// x contiguous [P, H, W] (P = N*C planes) → y [P, out_h, out_w] and argmax i64
// [P, out_h, out_w] holding the flat index h*W + w of each window's maximum
// (-1 for a window with no input pixel). Padding counts as -inf and a NaN wins,
// as in PyTorch.
template <class T>
void max_pool2d_kernel(const Tensor& x, const Conv2dGeometry& g, const Tensor& y, const Tensor& argmax) {
  using C = compute_t<T>;
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  std::int64_t* idx = argmax.data<std::int64_t>();
  const std::int64_t planes = x.shape()[0], HW = g.height * g.width, L = g.out_h * g.out_w;
  parallel_for(0, planes, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(L * g.kh * g.kw, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t p = b; p < e; ++p) {
                   const T* plane = src + p * HW;
                   for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
                     for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
                       C best = -std::numeric_limits<C>::infinity();
                       std::int64_t best_i = -1;
                       for (std::int64_t i = 0; i < g.kh; ++i) {
                         const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
                         if (iy < 0 || iy >= g.height) continue;
                         for (std::int64_t j = 0; j < g.kw; ++j) {
                           const std::int64_t ix = ox * g.stride_w - g.pad_w + j * g.dil_w;
                           if (ix < 0 || ix >= g.width) continue;
                           const C v = load(plane[iy * g.width + ix]);
                           if (best_i < 0 || v > best || std::isnan(v)) {
                             best = v;
                             best_i = iy * g.width + ix;
                           }
                         }
                       }
                       dst[p * L + oy * g.out_w + ox] = convert<T>(best);
                       idx[p * L + oy * g.out_w + ox] = best_i;
                     }
                   }
                 }
               });
}

// dy contiguous [P, out_h, out_w], argmax i64 [P, out_h, out_w]; dx contiguous
// [P, H, W] (zeroed by the caller) += dy routed to each window's maximum.
template <class T>
void max_pool2d_backward_kernel(const Tensor& dy, const Tensor& argmax, const Tensor& dx) {
  const T* g = dy.data<T>();
  const std::int64_t* idx = argmax.data<std::int64_t>();
  T* out = dx.data<T>();
  const std::int64_t planes = dx.shape()[0], HW = dx.shape()[1] * dx.shape()[2];
  const std::int64_t L = dy.shape()[1] * dy.shape()[2];
  parallel_for(0, planes, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(L, 1)),
               [&](std::int64_t b, std::int64_t e) {
                 for (std::int64_t p = b; p < e; ++p) {
                   T* plane = out + p * HW;
                   for (std::int64_t o = 0; o < L; ++o) {
                     const std::int64_t k = idx[p * L + o];
                     if (k >= 0) plane[k] = convert<T>(load(plane[k]) + load(g[p * L + o]));
                   }
                 }
               });
}

}  // namespace

void register_conv_kernels() {
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    im2col_kernels().set(DeviceKind::cpu, dtype_v<T>, &im2col_kernel<T>);
    col2im_kernels().set(DeviceKind::cpu, dtype_v<T>, &col2im_kernel<T>);
    max_pool2d_kernels().set(DeviceKind::cpu, dtype_v<T>, &max_pool2d_kernel<T>);
    max_pool2d_backward_kernels().set(DeviceKind::cpu, dtype_v<T>, &max_pool2d_backward_kernel<T>);
  });
}

}  // namespace kiln::cpu
