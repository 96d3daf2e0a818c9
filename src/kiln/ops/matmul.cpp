// Matrix products. The GEMM kernel takes [batch, M, K]·[batch, K, N] with
// either layout for each operand, so transposed views never get copied.
#include "kiln/ops/autocast.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/quantized_weights.h"

namespace kiln {

namespace {

// Makes the last two dims GEMM-addressable: one of their strides must be 1.
Tensor gemm_operand(const Tensor& x) {
  const std::int64_t n = x.dim();
  const std::int64_t s0 = x.strides()[n - 2], s1 = x.strides()[n - 1];
  const bool row_major = s1 == 1 || x.shape()[n - 1] == 1;
  const bool col_major = s0 == 1 || x.shape()[n - 2] == 1;
  return (row_major || col_major) ? x : x.contiguous();
}

// Collapses all leading dims into one batch dim without copying when the
// strides allow (equal spacing, or all broadcast), else copies.
Tensor as_batched(const Tensor& x, const Shape& batch) {
  NoGradGuard guard;
  Shape full = batch;
  full.push_back(x.shape()[x.dim() - 2]);
  full.push_back(x.shape()[x.dim() - 1]);
  Tensor e = gemm_operand(expand(x, full));
  std::int64_t nb = 1;
  for (const std::int64_t b : batch) nb *= b;
  const std::int64_t r = e.shape()[e.dim() - 2], c = e.shape()[e.dim() - 1];
  const std::int64_t rs = e.strides()[e.dim() - 2], cs = e.strides()[e.dim() - 1];
  // Find a single batch stride consistent with every non-trivial batch dim.
  bool ok = true;
  std::int64_t bstride = 0;
  std::int64_t expected = -1;
  for (std::int64_t i = static_cast<std::int64_t>(batch.size()) - 1; i >= 0; --i) {
    if (batch[i] == 1) continue;
    const std::int64_t st = e.strides()[i];
    if (expected < 0) {
      bstride = st;
      expected = st * batch[i];
    } else if (st == expected || (st == 0 && bstride == 0)) {
      expected = st * batch[i];
    } else {
      ok = false;
    }
  }
  if (!ok) {
    e = e.contiguous();
    bstride = r * c;
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = e.storage();
  impl->offset = e.offset();
  impl->dtype = e.dtype();
  impl->shape = {nb, r, c};
  impl->strides = {bstride, ok ? rs : c, ok ? cs : 1};
  return Tensor(std::move(impl));
}

Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const std::int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  const std::int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  if (K != K2) throw Error("matmul: inner dimensions differ: " + a.str() + " · " + b.str());
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  auto kernel = matmul_kernels().get(a.device(), a.dtype());
  std::int64_t nb = 1;
  for (const std::int64_t d : batch) nb *= d;
  if (b.dim() == 2 && a.dim() > 2 && a.is_contiguous()) {
    // [..., M, K]·[K, N]: one GEMM with M' = batch*M (the Linear-layer case).
    NoGradGuard guard;
    kernel(a.view({1, nb * M, K}), gemm_operand(b).unsqueeze(0), out.view({1, nb * M, N}), false);
  } else {
    kernel(as_batched(a, batch), as_batched(b, batch), out.view({nb, M, N}), false);
  }
  const Tensor ad = a.detach(), bd = b.detach();
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "matmul", {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(matmul_nd(g, bd.transpose(-2, -1)), ad.shape()) : Tensor(),
                               gb ? sum_to(matmul_nd(ad.transpose(-2, -1), g), bd.shape()) : Tensor()};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) throw Error("matmul: dtype mismatch between " + a.str() + " and " + b.str());
  if (a.device() != b.device()) {
    throw Error("matmul: operands on different devices: " + a.device().str() + " and " + b.device().str());
  }
  if (a.dim() == 0 || b.dim() == 0) throw Error("matmul: scalar operand in " + a.str() + " · " + b.str());
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul_nd(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(out.dim() == 1 ? 0 : -2);
  return out;
}

namespace {

// linear() under bf16 autocast: x (f32 or bf16) and the f32 weight are cast to
// bf16 for the GEMMs, the output is f32 with the f32 bias added in the
// epilogue. One node: it saves the bf16 copies (half the memory of f32
// activations) and returns f32 gradients for the weight and bias, and a
// gradient in x's own dtype.
Tensor linear_autocast(const Tensor& x, const Tensor& weight, const Tensor& bias, DType low) {
  const std::int64_t K = weight.shape()[1], N = weight.shape()[0];
  const std::int64_t M = x.numel() / std::max<std::int64_t>(K, 1);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  const DType out_dtype = weight.dtype();
  Tensor out = Tensor::empty(out_shape, out_dtype, x.device());
  Tensor x16, w16, b2;
  {
    NoGradGuard no_grad;
    x16 = cast(x.reshape({M, K}), low).contiguous();
    w16 = autocast_weight(weight, low);
    b2 = bias.defined() ? bias.contiguous() : bias;
    linear_kernels().get(x.device(), low)(x16, w16, b2, LinearActivation::none, out.view({M, N}));
  }
  if (!needs_grad({&x, &weight, &bias})) return out;
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  const Shape x_shape = x.shape();
  const DType x_dtype = x.dtype(), w_dtype = weight.dtype();
  return record(out, "linear(autocast)", {x, weight, bias},
                [x16, w16, gx, gw, gb, x_shape, x_dtype, w_dtype, M, N, K, low](const Tensor& g) {
                  const Tensor g2 = g.reshape({M, N});
                  const Tensor g16 = cast(g2, low).contiguous();
                  auto* gemm = matmul_kernels().get(g.device(), low);
                  Tensor dx, dw, db;
                  if (gx) {
                    dx = Tensor::empty({M, K}, x_dtype, g.device());
                    gemm(g16.unsqueeze(0), w16.unsqueeze(0), dx.unsqueeze(0), false);
                    dx = dx.view(x_shape);
                  }
                  if (gw) {
                    dw = Tensor::empty({N, K}, w_dtype, g.device());
                    gemm(g16.t().unsqueeze(0), x16.unsqueeze(0), dw.unsqueeze(0), false);
                  }
                  if (gb) db = sum(g2.contiguous(), {0});
                  return std::vector<Tensor>{dx, dw, db};
                });
}

// linear() on the q8_0 copy of an f32 weight (inference only: no node is
// recorded). Every row count runs the same kernel, so a prompt and the tokens
// decoded after it see the same arithmetic.
bool q8_0_applies(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return weight_format() == WeightFormat::q8_0 && weight.dtype() == DType::f32 && x.dtype() == DType::f32 &&
         (!bias.defined() || bias.dtype() == DType::f32) && weight.shape()[1] % Q8_0Weight::kBlock == 0 &&
         linear_q8_0_kernels().supports(x.device().kind, DType::f32) && !needs_grad({&x, &weight, &bias});
}

Tensor linear_q8_0(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation act) {
  const std::int64_t K = weight.shape()[1], N = weight.shape()[0];
  const std::int64_t M = x.numel() / K;
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape, DType::f32, x.device());
  if (out.numel() == 0) return out;
  NoGradGuard no_grad;
  const std::shared_ptr<const Q8_0Weight> w8 = q8_0_weight(weight);
  linear_q8_0_kernels().get(x.device(), DType::f32)(x.reshape({M, K}).contiguous(), *w8,
                                                    bias.defined() ? bias.contiguous() : bias, act, out.view({M, N}));
  return out;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation act) {
  if (weight.dim() != 2) throw Error("linear: weight must be 2-d [out, in], got " + weight.str());
  if (x.dim() == 0 || x.shape().back() != weight.shape()[1]) {
    throw Error("linear: input " + x.str() + " does not end in weight's in_features " + std::to_string(weight.shape()[1]));
  }
  if (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != weight.shape()[0])) {
    throw Error("linear: bias " + bias.str() + " must be [" + std::to_string(weight.shape()[0]) + "] for weight " +
                weight.str());
  }
  if (x.device() != weight.device() || (bias.defined() && bias.device() != x.device())) {
    throw Error("linear: operands on different devices");
  }
  if (weight.shape()[1] == 0) {  // empty inner dimension: the product is 0, the bias remains
    Tensor y = matmul(x, weight.t());
    if (bias.defined()) y = add(y, bias);
    return act == LinearActivation::none ? y : gelu(y, act == LinearActivation::gelu_tanh);
  }
  if (q8_0_applies(x, weight, bias)) return linear_q8_0(x, weight, bias, act);
  if (const auto low = autocast_dtype(); low && weight.dtype() == DType::f32 &&
                                         (x.dtype() == DType::f32 || x.dtype() == *low) &&
                                         (!bias.defined() || bias.dtype() == DType::f32)) {
    const Tensor y = linear_autocast(x, weight, bias, *low);
    return act == LinearActivation::none ? y : gelu(y, act == LinearActivation::gelu_tanh);
  }
  if (x.dtype() != weight.dtype() || (bias.defined() && bias.dtype() != x.dtype())) {
    throw Error("linear: dtype mismatch between input " + x.str() + ", weight " + weight.str() +
                (bias.defined() ? " and bias " + bias.str() : std::string()));
  }
  const bool grad = needs_grad({&x, &weight, &bias});
  // Training keeps the pre-activation for the backward pass: the GELU runs as its own op then.
  if (grad && act != LinearActivation::none) {
    return gelu(linear(x, weight, bias, LinearActivation::none), act == LinearActivation::gelu_tanh);
  }
  const std::int64_t K = weight.shape()[1], N = weight.shape()[0];
  const std::int64_t M = x.numel() / std::max<std::int64_t>(K, 1);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor x2, w2, b2;
  {
    NoGradGuard no_grad;
    x2 = gemm_operand(x.reshape({M, K}));
    if (x2.strides()[1] != 1 && K > 1) x2 = x2.contiguous();
    w2 = weight.strides()[1] == 1 || K == 1 ? weight : weight.contiguous();
    b2 = bias.defined() ? bias.contiguous() : bias;
    linear_kernels().get(x.device(), x.dtype())(x2, w2, b2, act, out.view({M, N}));
  }
  if (!grad) return out;
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  const Shape x_shape = x.shape();
  return record(out, "linear", {x, weight, bias}, [x2, w2, gx, gw, gb, x_shape, M, N, K](const Tensor& g) {
    const Tensor g2 = g.reshape({M, N}).contiguous();
    auto* gemm = matmul_kernels().get(g.device(), g.dtype());
    Tensor dx, dw, db;
    if (gx) {  // dx = g · W
      dx = Tensor::empty({M, K}, g.dtype(), g.device());
      gemm(g2.unsqueeze(0), w2.unsqueeze(0), dx.unsqueeze(0), false);
      dx = dx.view(x_shape);
    }
    if (gw) {  // dW = gᵀ · x: one GEMM over all B·T rows, written in W's own layout
      dw = Tensor::empty({N, K}, g.dtype(), g.device());
      gemm(g2.t().unsqueeze(0), x2.unsqueeze(0), dw.unsqueeze(0), false);
    }
    if (gb) db = sum(g2, {0});
    return std::vector<Tensor>{dx, dw, db};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear(x, weight, bias, LinearActivation::none);
}

}  // namespace kiln
