// Elementwise ops: broadcasting, dtype/device checks, and their gradients.
#include "kiln/ops/kernels.h"
#include "kiln/ops/op_checks.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {

void check_pair(const Tensor& a, const Tensor& b, const char* op) { detail::check_same_kind(a, b, op); }

// A broadcast view made without recording (the op records its own backward).
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  NoGradGuard guard;
  return expand(x, shape);
}

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_pair(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  binary_kernels().get(a.device(), a.dtype())(op, broadcast_to(a, shape), broadcast_to(b, shape), out);
  return out;
}

Tensor unary_forward(UnaryOp op, const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  unary_kernels().get(x.device(), x.dtype())(op, x, out);
  return out;
}

Tensor scalar_like(const Tensor& x, double v) { return Tensor::scalar(v, x.dtype(), x.device()); }

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_pair(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, DType::boolean, a.device());
  compare_kernels().get(a.device(), a.dtype())(op, broadcast_to(a, shape), broadcast_to(b, shape), out);
  return out;
}

}  // namespace

// ---- binary ------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, a, b, "add");
  const Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, a, b, "sub");
  const Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, a, b, "mul");
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Tensor ad = a.detach(), bd = b.detach();
  return record(out, "mul", {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, a, b, "div");
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Tensor bd = b.detach(), od = out.detach();
  const Shape sa = a.shape();
  return record(out, "div", {a, b}, [bd, od, sa, ga, gb](const Tensor& g) {
    const Tensor g_over_b = div(g, bd);
    return std::vector<Tensor>{ga ? sum_to(g_over_b, sa) : Tensor(),
                               gb ? sum_to(neg(mul(g_over_b, od)), bd.shape()) : Tensor()};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::pow, a, b, "pow");
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  const Tensor ad = a.detach(), bd = b.detach(), od = out.detach();
  return record(out, "pow", {a, b}, [ad, bd, od, ga, gb](const Tensor& g) {
    Tensor da, db;
    if (ga) da = sum_to(mul(g, mul(bd, pow(ad, sub(bd, scalar_like(bd, 1.0))))), ad.shape());
    if (gb) db = sum_to(mul(g, mul(od, log(ad))), bd.shape());
    return std::vector<Tensor>{da, db};
  });
}

namespace {
// Gradient of max/min: ties share the gradient equally, as in PyTorch.
std::vector<Tensor> select_grad(const Tensor& g, const Tensor& a, const Tensor& b, bool is_max) {
  const Tensor win_a = cast(is_max ? gt(a, b) : lt(a, b), g.dtype());
  const Tensor tie = mul(cast(eq(a, b), g.dtype()), 0.5);
  const Tensor wa = add(win_a, tie);
  const Tensor wb = rsub(1.0, wa);
  return {sum_to(mul(g, wa), a.shape()), sum_to(mul(g, wb), b.shape())};
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::maximum, a, b, "maximum");
  const Tensor ad = a.detach(), bd = b.detach();
  return record(out, "maximum", {a, b}, [ad, bd](const Tensor& g) { return select_grad(g, ad, bd, true); });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::minimum, a, b, "minimum");
  const Tensor ad = a.detach(), bd = b.detach();
  return record(out, "minimum", {a, b}, [ad, bd](const Tensor& g) { return select_grad(g, ad, bd, false); });
}

Tensor add(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }
Tensor rsub(double a, const Tensor& b) { return sub(scalar_like(b, a), b); }

Tensor pow(const Tensor& a, double exponent) {
  Tensor out = binary_forward(BinaryOp::pow, a, scalar_like(a, exponent), "pow");
  const Tensor ad = a.detach();
  return record(out, "pow", {a}, [ad, exponent](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(pow(ad, exponent - 1.0), exponent))};
  });
}

// ---- unary -------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  return record(unary_forward(UnaryOp::neg, x), "neg", {x},
                [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::exp, x);
  const Tensor od = out.detach();
  return record(out, "exp", {x}, [od](const Tensor& g) { return std::vector<Tensor>{mul(g, od)}; });
}

Tensor log(const Tensor& x) {
  const Tensor xd = x.detach();
  return record(unary_forward(UnaryOp::log, x), "log", {x},
                [xd](const Tensor& g) { return std::vector<Tensor>{div(g, xd)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sqrt, x);
  const Tensor od = out.detach();
  return record(out, "sqrt", {x}, [od](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), od)}; });
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::rsqrt, x);
  const Tensor od = out.detach();
  return record(out, "rsqrt", {x}, [od](const Tensor& g) {
    return std::vector<Tensor>{mul(g, mul(pow(od, 3.0), -0.5))};
  });
}

Tensor abs(const Tensor& x) {
  const Tensor xd = x.detach();
  return record(unary_forward(UnaryOp::abs, x), "abs", {x},
                [xd](const Tensor& g) { return std::vector<Tensor>{mul(g, unary_forward(UnaryOp::sign, xd))}; });
}

namespace {
// y = f(x) whose backward is one fused kernel: dx = grad_op(g, saved).
Tensor unary_with_fused_grad(UnaryOp op, BinaryOp grad_op, const Tensor& x, bool save_output, const char* name) {
  Tensor out = unary_forward(op, x);
  const Tensor saved = save_output ? out.detach() : x.detach();
  return record(out, name, {x}, [saved, grad_op, name](const Tensor& g) {
    return std::vector<Tensor>{binary_forward(grad_op, g, saved, name)};
  });
}
}  // namespace

Tensor tanh(const Tensor& x) { return unary_with_fused_grad(UnaryOp::tanh, BinaryOp::tanh_grad_from_y, x, true, "tanh"); }
Tensor sigmoid(const Tensor& x) {
  return unary_with_fused_grad(UnaryOp::sigmoid, BinaryOp::sigmoid_grad_from_y, x, true, "sigmoid");
}
Tensor relu(const Tensor& x) { return unary_with_fused_grad(UnaryOp::relu, BinaryOp::relu_grad, x, false, "relu"); }
Tensor gelu(const Tensor& x, bool tanh_approx) {
  return tanh_approx ? unary_with_fused_grad(UnaryOp::gelu_tanh, BinaryOp::gelu_tanh_grad, x, false, "gelu")
                     : unary_with_fused_grad(UnaryOp::gelu_erf, BinaryOp::gelu_erf_grad, x, false, "gelu");
}
Tensor silu(const Tensor& x) { return unary_with_fused_grad(UnaryOp::silu, BinaryOp::silu_grad, x, false, "silu"); }

Tensor sin(const Tensor& x) {
  const Tensor xd = x.detach();
  return record(unary_forward(UnaryOp::sin, x), "sin", {x},
                [xd](const Tensor& g) { return std::vector<Tensor>{mul(g, cos(xd))}; });
}

Tensor cos(const Tensor& x) {
  const Tensor xd = x.detach();
  return record(unary_forward(UnaryOp::cos, x), "cos", {x},
                [xd](const Tensor& g) { return std::vector<Tensor>{neg(mul(g, sin(xd)))}; });
}

Tensor square(const Tensor& x) {
  const Tensor xd = x.detach();
  return record(unary_forward(UnaryOp::square, x), "square", {x},
                [xd](const Tensor& g) { return std::vector<Tensor>{mul(mul(g, xd), 2.0)}; });
}

// ---- comparisons and selection -----------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::ge, a, b, "ge"); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_pair(a, b, "where");
  if (cond.dtype() != DType::boolean) throw Error("where: condition must be bool, got " + cond.str());
  if (cond.device() != a.device()) throw Error("where: condition on " + cond.device().str() + ", values on " + a.device().str());
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  where_kernels().get(a.device(), a.dtype())(broadcast_to(cond, shape), broadcast_to(a, shape),
                                             broadcast_to(b, shape), out);
  const Tensor cd = cond.detach();
  const Shape sa = a.shape(), sb = b.shape();
  return record(out, "where", {a, b}, [cd, sa, sb](const Tensor& g) {
    const Tensor zero = scalar_like(g, 0.0);
    return std::vector<Tensor>{sum_to(where(cd, g, zero), sa), sum_to(where(cd, zero, g), sb)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  return where(mask, scalar_like(x, value), x);
}

// ---- in-place ------------------------------------------------------------------
namespace {
// Every in-place op starts here: refuse a write that would corrupt the graph,
// then count the write on the storage's version (autograd checks it).
void check_inplace(const Tensor& a, const char* op) {
  if (grad_enabled() && a.requires_grad()) {
    throw Error(std::string(op) + ": in-place update of " + a.str() +
                ", which requires grad, outside NoGradGuard would corrupt the graph");
  }
  a.storage()->bump_version();
}
}  // namespace

void add_(Tensor& a, const Tensor& b) {
  check_inplace(a, "add_");
  check_pair(a, b, "add_");
  binary_kernels().get(a.device(), a.dtype())(BinaryOp::add, a, broadcast_to(b, a.shape()), a);
}

void add_scaled_(Tensor& a, const Tensor& b, double alpha) {
  check_inplace(a, "add_scaled_");
  check_pair(a, b, "add_scaled_");
  const Tensor scaled = binary_forward(BinaryOp::mul, b, scalar_like(b, alpha), "add_scaled_");
  binary_kernels().get(a.device(), a.dtype())(BinaryOp::add, a, broadcast_to(scaled, a.shape()), a);
}

void mul_(Tensor& a, double s) {
  check_inplace(a, "mul_");
  binary_kernels().get(a.device(), a.dtype())(BinaryOp::mul, a, broadcast_to(scalar_like(a, s), a.shape()), a);
}

void copy_(Tensor& dst, const Tensor& src) {
  check_inplace(dst, "copy_");
  if (dst.device() != src.device()) {
    throw Error("copy_: source on " + src.device().str() + ", destination on " + dst.device().str());
  }
  copy_kernels().get(dst.device(), dst.dtype())(broadcast_to(src, dst.shape()), dst);
}

void fill_(Tensor& dst, double value) {
  check_inplace(dst, "fill_");
  fill_kernels().get(dst.device(), dst.dtype())(dst, value);
}

// ---- operators -------------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }

}  // namespace kiln
