#pragma once
// The differentiable op set. Each op is defined once (shape/dtype checks, its
// backward written with other ops) in ops/<family>.cpp and runs on whatever
// device its inputs live on through the kernel tables in ops/kernels.h.
#include <cstdint>
#include <optional>
#include <vector>

#include "kiln/autograd/node.h"
#include "kiln/core/rng.h"
#include "kiln/core/tensor.h"
#include "kiln/ops/linear_activation.h"

namespace kiln {

// ---- elementwise (ops/elementwise.cpp) -------------------------------------
// Binary ops broadcast like NumPy; operands must share dtype and device.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor pow(const Tensor& a, double exponent);
Tensor rsub(double a, const Tensor& b);  ///< a - b

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
/// GELU; `tanh_approx` selects the tanh form used by GPT-2, else the exact erf form (BERT).
Tensor gelu(const Tensor& x, bool tanh_approx = false);
Tensor silu(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor square(const Tensor& x);

// Comparisons give bool tensors and carry no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
/// cond ? a : b, broadcasting all three.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x with `value` where mask is true (mask broadcasts to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// In-place updates for optimizers and gradient accumulation: never recorded.
void add_(Tensor& a, const Tensor& b);           ///< a += b
void add_scaled_(Tensor& a, const Tensor& b, double alpha);  ///< a += alpha * b
void mul_(Tensor& a, double s);                  ///< a *= s
void copy_(Tensor& dst, const Tensor& src);      ///< dst = src (broadcast, cast)
void fill_(Tensor& dst, double value);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);

// ---- reductions (ops/reduce.cpp) -------------------------------------------
// `dims` empty means all dimensions.
Tensor sum(const Tensor& x, std::vector<std::int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<std::int64_t> dims = {}, bool keepdim = false);
/// Maximum over dims; the gradient is shared equally among tied maxima.
Tensor max(const Tensor& x, std::vector<std::int64_t> dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, std::vector<std::int64_t> dims = {}, bool keepdim = false);
/// Variance (unbiased: divides by n - 1, as torch.var's default).
Tensor var(const Tensor& x, std::vector<std::int64_t> dims = {}, bool unbiased = true, bool keepdim = false);
/// Index of the maximum along `dim` (i64, no gradient).
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);
/// Sums `g` down to `shape` (undoing broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- linear algebra (ops/matmul.cpp) ---------------------------------------
/// NumPy matmul: 1-d operands are promoted, leading (batch) dims broadcast.
/// Transposed views are handed to the GEMM without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
/// x [..., in] · weight[out, in]ᵀ + bias[out]: one GEMM with the bias fused;
/// its backward computes the weight gradient as one GEMM over all rows.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
/// Same followed by `act`; without gradients the activation is fused into the
/// GEMM too (with them the pre-activation is kept for backward).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation act);

// ---- views and copies (ops/view.cpp) ---------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  ///< view if strides allow, else copy
Tensor view(const Tensor& x, const Shape& shape);     ///< throws when a copy would be needed
Tensor transpose(const Tensor& x, std::int64_t a, std::int64_t b);
Tensor permute(const Tensor& x, const Shape& order);
Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
Tensor squeeze(const Tensor& x, std::int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor cast(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);
/// Broadcast shape of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- joining and indexing (ops/index.cpp) ----------------------------------
Tensor concat(const std::vector<Tensor>& xs, std::int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, std::int64_t dim);
/// Splits into pieces of the given sizes along dim (views).
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t dim);
/// Splits into `chunks` equal views along dim (as torch.chunk: ceil(size / chunks)
/// each, the last one shorter when the size does not divide).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim);
/// Rows of x along dim picked by a 1-d i64 index.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
/// torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1.
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);

// ---- neural-network functions (ops/nn.cpp, ops/conv.cpp, ops/attention.cpp) -
Tensor softmax(const Tensor& x, std::int64_t dim = -1);
Tensor log_softmax(const Tensor& x, std::int64_t dim = -1);
enum class Reduction : std::uint8_t { mean, sum, none };
/// Cross-entropy on logits [N, C] (or [N, C, d...] via the class dim 1 as in PyTorch)
/// with i64 targets; rows whose target is ignore_index add nothing and are not counted.
/// A floating target of the logits' shape holds class probabilities; that case, and
/// per-class weights, are in ops/losses.h.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::int64_t ignore_index = -100,
                     double label_smoothing = 0.0, Reduction reduction = Reduction::mean);
/// Element-wise losses: input and target must have the same shape (no broadcasting).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::mean);
/// KL(target ‖ input) with input as log-probabilities (torch.nn.functional.kl_div):
/// pointwise target·(log target - input), with 0·log 0 = 0. NOTE: Reduction::mean here
/// is PyTorch's reduction='batchmean' (sum divided by input.size(0)), not the per-element mean.
Tensor kl_div(const Tensor& log_input, const Tensor& target, Reduction reduction = Reduction::mean);
/// Normalises over the last dimension; weight and bias [n] may be undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
/// x [N, C, ...]; in training mode uses batch statistics and updates the running
/// buffers in place (unbiased variance, PyTorch's momentum convention).
Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
/// Rows of weight [V, D] for integer ids of any shape → [..., D]. The backward
/// pass adds into only the rows that were used.
Tensor embedding(const Tensor& weight, const Tensor& ids);
/// Inverted dropout: zeroes with probability p and scales survivors by 1/(1-p).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
struct Conv2dOptions {
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  std::int64_t groups = 1;  ///< C and O split into this many groups; output group k sees only input group k
};
/// x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt = {});
/// x [N, C, H, W]; stride defaults to the kernel size when 0.
Tensor max_pool2d(const Tensor& x, std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t stride_h = 0,
                  std::int64_t stride_w = 0, std::int64_t pad_h = 0, std::int64_t pad_w = 0);
/// q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]. `causal` masks future keys
/// (bottom-right aligned when Tq < Tk); key_padding_mask (bool [B, Tk], true =
/// padding) masks padded keys and broadcasts over heads when q is [B, H, Tq, d].
/// scale defaults to 1/sqrt(d). A query that sees no key gets zeros (no NaN).
/// Fused (flash-attention tiling, no Tq×Tk tensor, one autograd node) for q, k, v
/// of 3 or 4 dims with equal batch dims, any strides; other ranks, broadcast
/// batch dims and dtypes without a fused kernel (f16) run the composed version.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                    const Tensor& key_padding_mask = Tensor(),
                                    std::optional<double> scale = std::nullopt);
/// The same attention composed from matmul, masked_fill and softmax (the
/// reference the fused op is tested against; it materialises the scores).
Tensor scaled_dot_product_attention_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                             const Tensor& key_padding_mask = Tensor(),
                                             std::optional<double> scale = std::nullopt);
/// GPT's causal multi-head self-attention on the packed projection qkv [B, T, 3C]
/// (q | k | v along the last dim, as GPT-2's c_attn output), heads of size C/heads,
/// scale 1/sqrt(C/heads); returns [B, T, C] with the heads merged, ready for the
/// output projection. One autograd node whose gradient is d(qkv) [B, T, 3C],
/// written directly by the fused kernel. key_padding_mask: bool [B, T], true = padding.
Tensor causal_self_attention_qkv(const Tensor& qkv, std::int64_t heads, const Tensor& key_padding_mask = Tensor());

// ---- random (ops/random.cpp) -----------------------------------------------
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = kCPU);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = kCPU);
/// 0/1 values with probability p of 1.
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype = DType::f32, Device device = kCPU);
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype = DType::f32,
               Device device = kCPU);

}  // namespace kiln
