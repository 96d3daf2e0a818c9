// Neural-network functions: softmax family, losses, layer norm, embedding,
// dropout. The hot ones (softmax, cross-entropy, layer norm) run as fused
// kernels with hand-written backwards; the rest are compositions of other ops.
#include <string>

#include "kiln/ops/index_util.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/losses.h"
#include "kiln/ops/op_checks.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {

using detail::check_same_kind;

void check_floating(const Tensor& x, const char* op, const char* role) {
  if (!x.defined()) throw Error(std::string(op) + ": " + role + " is undefined");
  if (!is_floating(x.dtype())) {
    throw Error(std::string(op) + ": " + role + " must be a floating-point tensor, got " + x.str());
  }
}

// Element-wise losses take input and target of one shape: silently
// broadcasting [N, 1] against [N] is a classic bug, so it is an error here.
void check_loss_pair(const Tensor& input, const Tensor& target, const char* op) {
  check_floating(input, op, "input");
  check_floating(target, op, "target");
  check_same_kind(input, target, op);
  if (input.shape() != target.shape()) {
    throw Error(std::string(op) + ": input " + input.str() + " and target " + target.str() +
                " must have the same shape");
  }
}

Tensor reduce_loss(const Tensor& pointwise, Reduction reduction) {
  switch (reduction) {
    case Reduction::mean: return mean(pointwise);
    case Reduction::sum: return sum(pointwise);
    case Reduction::none: return pointwise;
  }
  return pointwise;
}

// Per-row statistics (log-sum-exp, mean, rstd) keep f32 precision for 16-bit inputs.
DType stat_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }

Tensor scalar_like(const Tensor& x, double v) { return Tensor::scalar(v, x.dtype(), x.device()); }

// ---- softmax / log_softmax ---------------------------------------------------
// The kernels work on rows of the last axis; another `dim` is moved there with
// one transpose (its own inverse) and a contiguous copy.
Tensor softmax_impl(const Tensor& x, std::int64_t dim, bool log_space, const char* name) {
  check_floating(x, name, "input");
  const bool scalar = x.dim() == 0;
  const std::int64_t nd = scalar ? 1 : x.dim();
  const std::int64_t d = wrap_dim(dim, nd, name);
  const std::int64_t last = nd - 1;
  auto to_last = [d, last](const Tensor& t) { return (d == last ? t : transpose(t, d, last)).contiguous(); };
  Tensor y, y_last;
  std::int64_t rows = 0, n = 0;
  {
    NoGradGuard guard;
    const Tensor xl = to_last(scalar ? x.detach().reshape({1}) : x.detach());
    n = xl.shape().back();
    rows = n == 0 ? 0 : xl.numel() / n;
    y_last = Tensor::empty(xl.shape(), x.dtype(), x.device());
    if (xl.numel() > 0) {
      softmax_kernels().get(x.device(), x.dtype())(xl.view({rows, n}), y_last.view({rows, n}), log_space);
    }
    y = d == last ? y_last : transpose(y_last, d, last).contiguous();
    if (scalar) y = y.reshape({});
  }
  const Tensor saved = y_last.detach();  // y may be y_last itself: never capture it undetached
  return record(y, name, {x}, [saved, to_last, d, last, rows, n, scalar, log_space](const Tensor& g) {
    const Tensor gl = to_last(scalar ? g.reshape({1}) : g);
    Tensor dx = Tensor::empty(saved.shape(), g.dtype(), g.device());
    if (dx.numel() > 0) {
      softmax_backward_kernels().get(g.device(), g.dtype())(gl.view({rows, n}), saved.view({rows, n}),
                                                            dx.view({rows, n}), log_space);
    }
    if (d != last) dx = transpose(dx, d, last);
    return std::vector<Tensor>{scalar ? dx.reshape({}) : dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

// ---- cross_entropy -------------------------------------------------------------
// As torch.nn.functional.cross_entropy with class-index targets: per row
//   loss = (1 - ε)·(-log p[target]) + ε·mean_c(-log p[c]),
// rows whose target is ignore_index contribute 0, and the mean divides by the
// number of rows that are not ignored (NaN when every row is ignored, as PyTorch).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::int64_t ignore_index, double label_smoothing,
                     Reduction reduction) {
  constexpr const char* op = "cross_entropy";
  check_floating(logits, op, "logits");
  if (!target.defined()) throw Error("cross_entropy: target is undefined");
  if (logits.dim() == 0) throw Error("cross_entropy: logits must be [C], [N, C] or [N, C, d...], got " + logits.str());
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) {
    throw Error("cross_entropy: label_smoothing " + std::to_string(label_smoothing) + " is outside [0, 1]");
  }
  if (is_floating(target.dtype())) {  // class probabilities: ops/losses.cpp
    return cross_entropy(logits, target,
                         CrossEntropyOptions{.ignore_index = ignore_index, .label_smoothing = label_smoothing,
                                             .reduction = reduction});
  }
  if (target.dtype() != DType::i64 && target.dtype() != DType::i32) {
    throw Error("cross_entropy: target must hold class indices as i64 (or i32) or class probabilities, got " +
                target.str());
  }
  Tensor t = detail::index_as_i64(target, op);
  if (t.device() != logits.device()) {
    throw Error("cross_entropy: target " + target.str() + " on " + target.device().str() + ", logits " +
                logits.str() + " on " + logits.device().str());
  }
  const Shape& ls = logits.shape();
  const std::int64_t nd = logits.dim();
  const std::int64_t classes = nd == 1 ? ls[0] : ls[1];
  Shape expected;
  for (std::int64_t k = 0; k < nd; ++k) {
    if (k != (nd == 1 ? 0 : 1)) expected.push_back(ls[k]);
  }
  if (t.shape() != expected) {
    throw Error("cross_entropy: target " + target.str() + " does not match logits " + logits.str() +
                " (expected target shape " + shape_str(expected) + ")");
  }
  if (classes == 0) throw Error("cross_entropy: logits " + logits.str() + " have no classes");
  const DType sd = stat_dtype(logits.dtype());
  const std::int64_t rows = shape_numel(expected);

  Tensor logits2d, target1d, loss_rows, lse, count, out;
  {
    NoGradGuard guard;
    // Targets equal to ignore_index may hold any value; all others must name a class.
    const Tensor ignored = eq(t, Tensor::scalar(static_cast<double>(ignore_index), DType::i64, t.device()));
    const Tensor checked = where(ignored, Tensor::scalar(0, DType::i64, t.device()), t);
    if (const auto bad = detail::find_out_of_range(checked, classes)) {
      throw Error("cross_entropy: target " + std::to_string(*bad) + " is out of range for " +
                  std::to_string(classes) + " classes (logits " + logits.str() + ", ignore_index " +
                  std::to_string(ignore_index) + ")");
    }
    // Classes last: [N, C, d...] → [N, d..., C] → [N·d..., C].
    Tensor l = logits.detach();
    if (nd > 2) {
      Shape order{0};
      for (std::int64_t k = 2; k < nd; ++k) order.push_back(k);
      order.push_back(1);
      l = permute(l, order);
    }
    logits2d = l.contiguous().reshape({rows, classes});
    target1d = t.reshape({rows}).contiguous();
    loss_rows = Tensor::empty({rows}, sd, logits.device());
    lse = Tensor::empty({rows}, sd, logits.device());
    cross_entropy_kernels().get(logits.device(), logits.dtype())(logits2d, target1d, ignore_index, label_smoothing,
                                                                 loss_rows, lse);
    const Tensor kept = ne(t, Tensor::scalar(static_cast<double>(ignore_index), DType::i64, t.device()));
    count = sum(cast(kept, sd));
    switch (reduction) {
      case Reduction::mean: out = div(sum(loss_rows), count); break;
      case Reduction::sum: out = sum(loss_rows); break;
      case Reduction::none: out = loss_rows.reshape(expected); break;
    }
    out = cast(out, logits.dtype());
  }
  const Shape permuted = [&] {
    Shape s = expected;
    s.push_back(classes);
    return s;
  }();
  return record(out, op, {logits},
                [logits2d, target1d, lse, count, reduction, ignore_index, label_smoothing, rows, nd, permuted,
                 sd](const Tensor& g) {
                  const Tensor gs = cast(g, sd);
                  Tensor grad_row;
                  if (reduction == Reduction::none) {
                    grad_row = gs.reshape({rows}).contiguous();
                  } else {
                    const Tensor per_row = reduction == Reduction::mean ? div(gs, count) : gs;
                    grad_row = expand(per_row.reshape({1}), {rows}).contiguous();
                  }
                  Tensor dlogits = Tensor::empty(logits2d.shape(), logits2d.dtype(), logits2d.device());
                  cross_entropy_backward_kernels().get(dlogits.device(), dlogits.dtype())(
                      logits2d, target1d, lse, grad_row, ignore_index, label_smoothing, dlogits);
                  if (nd == 1) return std::vector<Tensor>{dlogits.reshape({permuted.back()})};
                  if (nd == 2) return std::vector<Tensor>{dlogits};
                  // [N·d..., C] → [N, d..., C] → [N, C, d...].
                  Shape order{0, nd - 1};
                  for (std::int64_t k = 1; k < nd - 1; ++k) order.push_back(k);
                  return std::vector<Tensor>{permute(dlogits.reshape(permuted), order)};
                });
}

// ---- element-wise losses ---------------------------------------------------------
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss_pair(input, target, "mse_loss");
  return reduce_loss(square(sub(input, target)), reduction);
}

// loss = max(x, 0) - x·t + log(1 + e^{-|x|}), which never overflows. The
// gradient is written out (σ(x) - t for x, -x for t) because differentiating the
// composition would give max's and |x|'s one-sided derivatives at x = 0.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction) {
  constexpr const char* op = "binary_cross_entropy_with_logits";
  check_loss_pair(logits, target, op);
  const Tensor xd = logits.detach(), td = target.detach();
  Tensor pointwise;
  {
    NoGradGuard guard;
    pointwise = add(sub(relu(xd), mul(xd, td)), log(add(exp(neg(abs(xd))), 1.0)));
  }
  const bool gx = logits.requires_grad(), gt = target.requires_grad();
  pointwise = record(pointwise, op, {logits, target}, [xd, td, gx, gt](const Tensor& g) {
    return std::vector<Tensor>{gx ? mul(g, sub(sigmoid(xd), td)) : Tensor(), gt ? neg(mul(g, xd)) : Tensor()};
  });
  return reduce_loss(pointwise, reduction);
}

// Pointwise target·(log target - input) with 0·log 0 = 0; Reduction::mean is
// PyTorch's 'batchmean' (the sum divided by input.size(0)), the form that is
// the actual KL divergence per sample.
Tensor kl_div(const Tensor& log_input, const Tensor& target, Reduction reduction) {
  check_loss_pair(log_input, target, "kl_div");
  const Tensor positive = gt(target, scalar_like(target, 0.0));
  const Tensor safe = where(positive, target, scalar_like(target, 1.0));  // log(1) = 0 where target is 0
  const Tensor pointwise = sub(mul(target, log(safe)), mul(target, log_input));
  switch (reduction) {
    case Reduction::none: return pointwise;
    case Reduction::sum: return sum(pointwise);
    case Reduction::mean: {
      const std::int64_t batch = log_input.dim() == 0 ? 1 : log_input.shape()[0];
      if (batch == 0) throw Error("kl_div: batchmean over an empty batch " + log_input.str());
      return div(sum(pointwise), static_cast<double>(batch));
    }
  }
  return pointwise;
}

// ---- layer_norm -------------------------------------------------------------------
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  constexpr const char* op = "layer_norm";
  check_floating(x, op, "input");
  if (x.dim() == 0) throw Error("layer_norm: input must have at least one dimension, got " + x.str());
  if (!(eps >= 0.0)) throw Error("layer_norm: eps must be non-negative, got " + std::to_string(eps));
  const std::int64_t n = x.shape().back();
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    const char* role = p == &weight ? "weight" : "bias";
    check_same_kind(x, *p, op);
    if (p->shape() != Shape{n}) {
      throw Error(std::string("layer_norm: ") + role + " " + p->str() + " must be [" + std::to_string(n) +
                  "] to match the last dimension of input " + x.str());
    }
  }
  const std::int64_t rows = n == 0 ? 0 : x.numel() / n;
  const DType sd = stat_dtype(x.dtype());
  Tensor x2, w, b, y, mu, rstd;
  {
    NoGradGuard guard;
    x2 = x.detach().contiguous().reshape({rows, n});
    if (weight.defined()) w = weight.detach().contiguous();
    if (bias.defined()) b = bias.detach().contiguous();
    y = Tensor::empty(x.shape(), x.dtype(), x.device());
    mu = Tensor::empty({rows}, sd, x.device());
    rstd = Tensor::empty({rows}, sd, x.device());
    if (x.numel() > 0) {
      layer_norm_kernels().get(x.device(), x.dtype())(x2, w, b, eps, y.view({rows, n}), mu, rstd);
    }
  }
  const bool need_w = weight.requires_grad(), need_b = bias.requires_grad();
  const Shape in_shape = x.shape();
  return record(y, op, {x, weight, bias}, [x2, w, mu, rstd, need_w, need_b, in_shape, rows, n](const Tensor& g) {
    const Tensor dy = g.contiguous().reshape({rows, n});
    Tensor dx = Tensor::empty({rows, n}, g.dtype(), g.device());
    Tensor dw = need_w ? Tensor::empty({n}, g.dtype(), g.device()) : Tensor();
    Tensor db = need_b ? Tensor::empty({n}, g.dtype(), g.device()) : Tensor();
    if (rows * n > 0) {
      layer_norm_backward_kernels().get(g.device(), g.dtype())(dy, x2, w, mu, rstd, dx, dw, db);
    } else {
      if (dw.defined()) fill_(dw, 0.0);
      if (db.defined()) fill_(db, 0.0);
    }
    return std::vector<Tensor>{dx.reshape(in_shape), dw, db};
  });
}

// ---- embedding ----------------------------------------------------------------------
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  if (!weight.defined()) throw Error("embedding: weight is undefined");
  if (weight.dim() != 2) throw Error("embedding: weight must be [vocab, dim], got " + weight.str());
  const Tensor idx = detail::index_as_i64(ids, "embedding");
  if (idx.device() != weight.device()) {
    throw Error("embedding: ids on " + idx.device().str() + ", weight " + weight.str() + " on " +
                weight.device().str());
  }
  const std::int64_t vocab = weight.shape()[0];
  if (const auto bad = detail::find_out_of_range(idx, vocab)) {
    throw Error("embedding: id " + std::to_string(*bad) + " is out of range for vocabulary size " +
                std::to_string(vocab) + " (weight " + weight.str() + ")");
  }
  Shape out_shape = idx.shape();
  out_shape.push_back(weight.shape()[1]);
  // index_select's backward adds into only the rows that were looked up.
  return reshape(index_select(weight, 0, idx.reshape({idx.numel()})), out_shape);
}

// ---- dropout -------------------------------------------------------------------------
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_floating(x, "dropout", "input");
  if (!(p >= 0.0 && p <= 1.0)) throw Error("dropout: probability " + std::to_string(p) + " is outside [0, 1]");
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, scalar_like(x, 0.0));
  // keep ~ Bernoulli(1 - p), scaled so the expectation of the output is x.
  Tensor keep = bernoulli(x.shape(), 1.0 - p, gen, x.dtype(), x.device());
  mul_(keep, 1.0 / (1.0 - p));
  return mul(x, keep);
}

}  // namespace kiln
