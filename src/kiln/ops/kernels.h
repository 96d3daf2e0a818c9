#pragma once
// Every kernel signature a backend implements. Op definitions (ops/*.cpp)
// prepare operands (broadcast, make contiguous where a kernel needs it,
// allocate outputs) and call through these tables; backends register into them.
//
// Conventions: shapes are given in the comment of each table; "contiguous"
// means the op layer guarantees row-major dense operands; elsewhere kernels
// accept any strides (including 0 for broadcast).
#include <cstdint>

#include "kiln/core/tensor.h"
#include "kiln/ops/dispatch.h"
#include "kiln/ops/linear_activation.h"
#include "kiln/ops/q8_0_weight.h"

namespace kiln {

enum class UnaryOp : std::uint8_t {
  neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, gelu_erf, gelu_tanh, silu, sin, cos, square, reciprocal, sign
};
enum class BinaryOp : std::uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  // Fused derivatives used by backward passes: out = g * f'(x) (or of y = f(x)).
  relu_grad, gelu_erf_grad, gelu_tanh_grad, silu_grad, sigmoid_grad_from_y, tanh_grad_from_y
};
enum class CompareOp : std::uint8_t { eq, ne, lt, le, gt, ge };
enum class ReduceOp : std::uint8_t { sum, max, min };
enum class RandomDist : std::uint8_t { uniform, normal, bernoulli };

// out[i] = cast(src[i]); same shape, any strides and dtypes. Dispatched on out's dtype.
using CopyKernel = void(const Tensor& src, const Tensor& out);
// out[i] = value.
using FillKernel = void(const Tensor& out, double value);
// out = op(in); same shape and dtype.
using UnaryKernel = void(UnaryOp op, const Tensor& in, const Tensor& out);
// out = op(a, b); a, b already broadcast (expanded) to out's shape.
using BinaryKernel = void(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// out(bool) = a op b; a, b broadcast to out's shape. Dispatched on a's dtype.
using CompareKernel = void(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// out = cond ? a : b; all broadcast to out's shape; cond is bool.
using WhereKernel = void(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
// in is contiguous [outer, n, inner]; out is contiguous [outer, inner].
using ReduceKernel = void(ReduceOp op, const Tensor& in, const Tensor& out);
// in is contiguous [outer, n, inner]; out(i64) [outer, inner] = argmax over n.
using ArgmaxKernel = void(const Tensor& in, const Tensor& out);
// a [batch, M, K], b [batch, K, N]: each of the last two dims may have unit
// stride in either position (a transposed operand); batch stride may be 0.
// out [batch, M, N] contiguous; out = a·b (+ out if accumulate).
using MatmulKernel = void(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate);
// The fully-connected layer's forward GEMM with its epilogue fused: out [M, N]
// contiguous = act(x [M, K] · w [N, K]ᵀ + bias [N]); x's and w's rows have unit
// stride; bias may be undefined; act is applied only when asked (inference:
// training keeps the pre-activation for the backward pass).
using LinearKernel = void(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act,
                          const Tensor& out);
// w contiguous f32 [N, K], K a multiple of 32 → q (u8 [N, K]) and d (f16
// [N, K / 32]) of a Q8_0Weight, rounded as ggml's quantize_row_q8_0_ref rounds.
using QuantizeQ8_0Kernel = void(const Tensor& w, const Q8_0Weight& out);
// linear() on a q8_0 weight: out [M, N] contiguous f32 = act(x [M, K] · Wᵀ +
// bias [N]) with x (contiguous f32, any M) rounded per 32-block to int8 as
// llama.cpp rounds activations for a q8_0 dot product (d = max|x| / 127 as f16,
// q = round-half-even(x · 127 / max|x|)), exact integer sums per block scaled
// by d_w·d_x, f32 accumulation. bias f32 contiguous or undefined. Dispatched on x's dtype.
using LinearQ8_0Kernel = void(const Tensor& x, const Q8_0Weight& w, const Tensor& bias, LinearActivation act,
                              const Tensor& out);
// x, y contiguous [rows, n]; softmax (or log-softmax) along n.
using SoftmaxKernel = void(const Tensor& x, const Tensor& y, bool log);
// dy, y, dx contiguous [rows, n]; dx from the output y.
using SoftmaxBackwardKernel = void(const Tensor& dy, const Tensor& y, const Tensor& dx, bool log);
// logits contiguous [N, C], target i64 [N]; loss [N] per row (0 where ignored),
// lse [N] the log-sum-exp kept for backward.
using CrossEntropyKernel = void(const Tensor& logits, const Tensor& target, std::int64_t ignore_index,
                                double label_smoothing, const Tensor& loss, const Tensor& lse);
// dlogits [N, C] = grad_row[N] * (softmax - smoothed one-hot); 0 on ignored rows.
using CrossEntropyBackwardKernel = void(const Tensor& logits, const Tensor& target, const Tensor& lse,
                                        const Tensor& grad_row, std::int64_t ignore_index, double label_smoothing,
                                        const Tensor& dlogits);
// x contiguous [rows, n], weight/bias [n] (may be undefined); y [rows, n], mean/rstd [rows].
using LayerNormKernel = void(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps,
                             const Tensor& y, const Tensor& mean, const Tensor& rstd);
// dx [rows, n]; dweight/dbias [n] (undefined when not needed).
using LayerNormBackwardKernel = void(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& dx, const Tensor& dweight,
                                     const Tensor& dbias);
// out [n, ...] = table[index[i], ...]; table contiguous [rows, ...], index i64 [n].
using IndexSelectKernel = void(const Tensor& table, const Tensor& index, const Tensor& out);
// table[index[i], ...] += src[i, ...]; table contiguous [rows, ...], src contiguous [n, ...].
using IndexAddKernel = void(const Tensor& table, const Tensor& index, const Tensor& src);
// out [outer, k, inner] = in[outer, index[outer, k, inner], inner]; in contiguous [outer, n, inner].
using GatherKernel = void(const Tensor& in, const Tensor& index, const Tensor& out);
// out[outer, index[...], inner] += src[...]; the adjoint of gather.
using ScatterAddKernel = void(const Tensor& out, const Tensor& index, const Tensor& src);
// Fills out with a counter-based random stream: element i uses counter (offset + i),
// so the result does not depend on the thread count. a, b: uniform [a, b), normal (mean a, std b),
// bernoulli (p = a, values 0/1).
using RandomKernel = void(const Tensor& out, RandomDist dist, double a, double b, std::uint64_t seed,
                          std::uint64_t offset);
struct Conv2dGeometry {
  std::int64_t channels, height, width, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, out_h, out_w;
};
// image contiguous [C, H, W] → cols [C*kh*kw, out_h*out_w].
using Im2colKernel = void(const Tensor& image, const Conv2dGeometry& g, const Tensor& cols);
// Adjoint: image [C, H, W] += col2im(cols).
using Col2imKernel = void(const Tensor& cols, const Conv2dGeometry& g, const Tensor& image);
// x contiguous [N*C, H, W] → y [N*C, oh, ow], argmax i64 [N*C, oh, ow] (flat h*W+w, -1 if window empty).
using MaxPool2dKernel = void(const Tensor& x, const Conv2dGeometry& g, const Tensor& y, const Tensor& argmax);
// dx [N*C, H, W] (zeroed) += dy at argmax.
using MaxPool2dBackwardKernel = void(const Tensor& dy, const Tensor& argmax, const Tensor& dx);

KernelTable<CopyKernel>& copy_kernels();
KernelTable<FillKernel>& fill_kernels();
KernelTable<UnaryKernel>& unary_kernels();
KernelTable<BinaryKernel>& binary_kernels();
KernelTable<CompareKernel>& compare_kernels();
KernelTable<WhereKernel>& where_kernels();
KernelTable<ReduceKernel>& reduce_kernels();
KernelTable<ArgmaxKernel>& argmax_kernels();
KernelTable<MatmulKernel>& matmul_kernels();
KernelTable<LinearKernel>& linear_kernels();
KernelTable<QuantizeQ8_0Kernel>& quantize_q8_0_kernels();
KernelTable<LinearQ8_0Kernel>& linear_q8_0_kernels();
KernelTable<SoftmaxKernel>& softmax_kernels();
KernelTable<SoftmaxBackwardKernel>& softmax_backward_kernels();
KernelTable<CrossEntropyKernel>& cross_entropy_kernels();
KernelTable<CrossEntropyBackwardKernel>& cross_entropy_backward_kernels();
KernelTable<LayerNormKernel>& layer_norm_kernels();
KernelTable<LayerNormBackwardKernel>& layer_norm_backward_kernels();
KernelTable<IndexSelectKernel>& index_select_kernels();
KernelTable<IndexAddKernel>& index_add_kernels();
KernelTable<GatherKernel>& gather_kernels();
KernelTable<ScatterAddKernel>& scatter_add_kernels();
KernelTable<RandomKernel>& random_kernels();
KernelTable<Im2colKernel>& im2col_kernels();
KernelTable<Col2imKernel>& col2im_kernels();
KernelTable<MaxPool2dKernel>& max_pool2d_kernels();
KernelTable<MaxPool2dBackwardKernel>& max_pool2d_backward_kernels();

}  // namespace kiln
