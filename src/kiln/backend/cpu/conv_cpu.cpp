// Convolution on the CPU: whole f32 convolutions are oneDNN's (conv_dnnl.cpp);
// for the other dtypes ops/conv.cpp lowers to im2col / col2im, here, and the
// matmul kernel. Pooling kernels are in pool_cpu.cpp.
#include <algorithm>

#include "kiln/backend/cpu/conv_dnnl.h"
#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/backend/cpu/window_range.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

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

}  // namespace

void register_conv_kernels() {
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    im2col_kernels().set(DeviceKind::cpu, dtype_v<T>, &im2col_kernel<T>);
    col2im_kernels().set(DeviceKind::cpu, dtype_v<T>, &col2im_kernel<T>);
  });
  register_conv_dnnl_kernels();
}

}  // namespace kiln::cpu
