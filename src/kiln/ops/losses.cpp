// The loss kernel tables and the ops in front of them (declared in
// ops/losses.h): argument checks, operand layout, the kernel call, and a
// hand-written backward that is one kernel pass.
#include "kiln/ops/losses.h"

#include <string>

#include "kiln/autograd/node.h"
#include "kiln/ops/index_util.h"
#include "kiln/ops/loss_kernels.h"
#include "kiln/ops/op_checks.h"

namespace kiln {

#define KILN_KERNEL_TABLE(fn, Sig, name) \
  KernelTable<Sig>& fn() {               \
    static KernelTable<Sig> table(name); \
    return table;                        \
  }

KILN_KERNEL_TABLE(regression_loss_kernels, RegressionLossKernel, "regression_loss")
KILN_KERNEL_TABLE(regression_loss_backward_kernels, RegressionLossBackwardKernel, "regression_loss_backward")
KILN_KERNEL_TABLE(binary_loss_kernels, BinaryLossKernel, "binary_loss")
KILN_KERNEL_TABLE(binary_loss_backward_kernels, BinaryLossBackwardKernel, "binary_loss_backward")
KILN_KERNEL_TABLE(cross_entropy_rows_kernels, CrossEntropyRowsKernel, "cross_entropy_rows")
KILN_KERNEL_TABLE(cross_entropy_rows_backward_kernels, CrossEntropyRowsBackwardKernel, "cross_entropy_rows_backward")
KILN_KERNEL_TABLE(kl_normal_standard_kernels, KlNormalStandardKernel, "kl_normal_standard")
KILN_KERNEL_TABLE(kl_normal_standard_backward_kernels, KlNormalStandardBackwardKernel, "kl_normal_standard_backward")

#undef KILN_KERNEL_TABLE

namespace {

using detail::check_same_kind;

// Row statistics keep f32 precision for 16-bit inputs.
DType stat_dtype(DType t) { return t == DType::f64 ? DType::f64 : DType::f32; }

void check_floating(const Tensor& x, const char* op, const char* role) {
  if (!x.defined()) throw Error(std::string(op) + ": " + role + " is undefined");
  if (!is_floating(x.dtype())) {
    throw Error(std::string(op) + ": " + role + " must be a floating-point tensor, got " + x.str());
  }
}

// Pointwise losses take two operands of one shape: silently broadcasting
// [N, 1] against [N] is a classic bug, so it is an error here.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* role_a, const char* role_b) {
  check_floating(a, op, role_a);
  check_floating(b, op, role_b);
  check_same_kind(a, b, op);
  if (a.shape() != b.shape()) {
    throw Error(std::string(op) + ": " + role_a + " " + a.str() + " and " + role_b + " " + b.str() +
                " must have the same shape");
  }
}

void check_constant(const Tensor& w, const char* op, const char* role) {
  if (w.defined() && w.requires_grad() && grad_enabled()) {
    throw Error(std::string(op) + ": " + role + " " + w.str() +
                " requires grad, but loss weights are constants here; pass " + role + ".detach()");
  }
}

// A per-element factor broadcast (without copying) to `like`'s shape; a
// broadcast 1 when the caller gave none, so kernels see one operand layout.
Tensor broadcast_factor(const Tensor& w, const Tensor& like, const char* op, const char* role) {
  check_constant(w, op, role);  // before the guard below, which would hide grad mode
  NoGradGuard guard;
  if (!w.defined()) return expand(Tensor::scalar(1.0, like.dtype(), like.device()), like.shape());
  check_same_kind(like, w, op);
  // Trailing dims align (NumPy); each of w's must be 1 or equal the input's.
  bool fits = w.dim() <= like.dim();
  for (std::int64_t k = 1; fits && k <= w.dim(); ++k) {
    const std::int64_t wd = w.shape()[static_cast<std::size_t>(w.dim() - k)];
    fits = wd == 1 || wd == like.shape()[static_cast<std::size_t>(like.dim() - k)];
  }
  if (!fits) {
    throw Error(std::string(op) + ": " + role + " " + w.str() + " does not broadcast to the input " + like.str());
  }
  return expand(w.detach(), like.shape());
}

Tensor reduce_pointwise(const Tensor& pointwise, Reduction reduction) {
  switch (reduction) {
    case Reduction::mean:
      return mean(pointwise);
    case Reduction::sum:
      return sum(pointwise);
    case Reduction::none:
      return pointwise;
  }
  return pointwise;
}

// The gradient of each of `rows` loss rows from the gradient g of the reduced
// loss, as a contiguous [rows] tensor in dtype `sd`. `divisor` is the mean's
// denominator (a 0-d tensor on the device).
Tensor grad_per_row(const Tensor& g, Reduction reduction, const Tensor& divisor, std::int64_t rows, DType sd) {
  const Tensor gs = cast(g, sd);
  switch (reduction) {
    case Reduction::none:
      return gs.reshape({rows}).contiguous();
    case Reduction::sum:
      return expand(gs.reshape({1}), {rows}).contiguous();
    case Reduction::mean:
      return expand(div(gs, divisor).reshape({1}), {rows}).contiguous();
  }
  return gs;
}

// ---- pointwise losses ----------------------------------------------------------------
Tensor regression_loss(RegressionLoss kind, double param, const Tensor& input, const Tensor& target,
                       Reduction reduction, const char* op) {
  check_same_shape(input, target, op, "input", "target");
  const Tensor xd = input.detach(), td = target.detach();
  const Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (out.numel() > 0) regression_loss_kernels().get(out.device(), out.dtype())(kind, param, xd, td, out);
  const bool gx = input.requires_grad(), gt = target.requires_grad();
  const Tensor pointwise = record(out, op, {input, target}, [kind, param, xd, td, gx, gt](const Tensor& g) {
    const Tensor dx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    if (dx.numel() > 0) {
      regression_loss_backward_kernels().get(dx.device(), dx.dtype())(kind, param, g, xd, td, dx);
    }
    return std::vector<Tensor>{gx ? dx : Tensor(), gt ? neg(dx) : Tensor()};
  });
  return reduce_pointwise(pointwise, reduction);
}

Tensor binary_loss(BinaryLoss kind, const Tensor& input, const Tensor& target, const Tensor& weight,
                   const Tensor& pos_weight, Reduction reduction, const char* op) {
  check_same_shape(input, target, op, "input", "target");
  const Tensor xd = input.detach(), td = target.detach();
  const Tensor w = broadcast_factor(weight, input, op, "weight");
  const Tensor pw = broadcast_factor(pos_weight, input, op, "pos_weight");
  const Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (out.numel() > 0) binary_loss_kernels().get(out.device(), out.dtype())(kind, xd, td, w, pw, out);
  const bool gx = input.requires_grad(), gt = target.requires_grad();
  const Tensor pointwise = record(out, op, {input, target}, [kind, xd, td, w, pw, gx, gt](const Tensor& g) {
    auto grad_of = [&](LossOperand wrt) {
      const Tensor d = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
      if (d.numel() > 0) binary_loss_backward_kernels().get(d.device(), d.dtype())(kind, wrt, g, xd, td, w, pw, d);
      return d;
    };
    return std::vector<Tensor>{gx ? grad_of(LossOperand::input) : Tensor(),
                               gt ? grad_of(LossOperand::target) : Tensor()};
  });
  return reduce_pointwise(pointwise, reduction);
}

// ---- cross-entropy layout ---------------------------------------------------------------
// Logits [C], [N, C] or [N, C, d...] as rows [R, C] with classes last, and back.
struct ClassLayout {
  std::int64_t nd = 0;       // logits' rank
  std::int64_t classes = 0;  // C
  std::int64_t rows = 0;     // R = N·d...
  Shape row_shape;           // logits' shape without the class dim (the shape of a loss per row)

  explicit ClassLayout(const Shape& logits) : nd(static_cast<std::int64_t>(logits.size())) {
    const std::int64_t class_dim = nd == 1 ? 0 : 1;
    classes = logits[static_cast<std::size_t>(class_dim)];
    for (std::int64_t k = 0; k < nd; ++k) {
      if (k != class_dim) row_shape.push_back(logits[static_cast<std::size_t>(k)]);
    }
    rows = shape_numel(row_shape);
  }

  // [N, C, d...] → [N, d..., C] → contiguous [R, C].
  Tensor to_rows(const Tensor& t) const {
    Tensor l = t;
    if (nd > 2) {
      Shape order{0};
      for (std::int64_t k = 2; k < nd; ++k) order.push_back(k);
      order.push_back(1);
      l = permute(l, order);
    }
    return l.contiguous().reshape({rows, classes});
  }

  // [R, C] → [N, d..., C] → [N, C, d...] (a view).
  Tensor from_rows(const Tensor& t) const {
    if (nd == 1) return t.reshape({classes});
    if (nd == 2) return t;
    Shape permuted = row_shape;
    permuted.push_back(classes);
    Shape order{0, nd - 1};
    for (std::int64_t k = 1; k < nd - 1; ++k) order.push_back(k);
    return permute(t.reshape(permuted), order);
  }
};

}  // namespace

// ---- regression ------------------------------------------------------------------------
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return regression_loss(RegressionLoss::l1, 0.0, input, target, reduction, "l1_loss");
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (!(beta >= 0.0)) throw Error("smooth_l1_loss: beta must be non-negative, got " + std::to_string(beta));
  return regression_loss(RegressionLoss::smooth_l1, beta, input, target, reduction, "smooth_l1_loss");
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  if (!(delta > 0.0)) throw Error("huber_loss: delta must be positive, got " + std::to_string(delta));
  return regression_loss(RegressionLoss::huber, delta, input, target, reduction, "huber_loss");
}

// ---- binary cross-entropy -----------------------------------------------------------------
Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const BinaryCrossEntropyOptions& options) {
  return binary_loss(BinaryLoss::probabilities, probs, target, options.weight, Tensor(), options.reduction,
                     "binary_cross_entropy");
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const BinaryCrossEntropyWithLogitsOptions& options) {
  return binary_loss(BinaryLoss::logits, logits, target, options.weight, options.pos_weight, options.reduction,
                     "binary_cross_entropy_with_logits");
}

// ---- categorical cross-entropy --------------------------------------------------------------
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  constexpr const char* op = "cross_entropy";
  check_floating(logits, op, "logits");
  if (!target.defined()) throw Error("cross_entropy: target is undefined");
  const bool probability_target = is_floating(target.dtype());
  if (!probability_target && !options.weight.defined()) {
    // Class indices without weights: the core op (ops/nn.cpp) is this exact case.
    return cross_entropy(logits, target, options.ignore_index, options.label_smoothing, options.reduction);
  }
  if (logits.dim() == 0) throw Error("cross_entropy: logits must be [C], [N, C] or [N, C, d...], got " + logits.str());
  const double eps = options.label_smoothing;
  if (!(eps >= 0.0 && eps <= 1.0)) {
    throw Error("cross_entropy: label_smoothing " + std::to_string(eps) + " is outside [0, 1]");
  }
  const ClassLayout layout(logits.shape());
  if (layout.classes == 0) throw Error("cross_entropy: logits " + logits.str() + " have no classes");
  const Tensor& weight = options.weight;
  if (weight.defined()) {
    check_same_kind(logits, weight, op);
    check_constant(weight, op, "weight");
    if (weight.shape() != Shape{layout.classes}) {
      throw Error("cross_entropy: weight " + weight.str() + " must be [" + std::to_string(layout.classes) +
                  "], one per class of logits " + logits.str());
    }
  }
  const DType sd = stat_dtype(logits.dtype());
  const std::int64_t rows = layout.rows;

  CrossEntropyRows args{.ignore_index = options.ignore_index, .label_smoothing = eps};
  Tensor loss_rows, lse, row_weight, divisor, out;
  {
    NoGradGuard guard;
    if (probability_target) {
      check_same_kind(logits, target, op);
      if (target.shape() != logits.shape()) {
        throw Error("cross_entropy: target " + target.str() + " fits logits " + logits.str() +
                    " neither as class probabilities (shape " + shape_str(logits.shape()) +
                    ") nor as class indices (i64 of shape " + shape_str(layout.row_shape) + ")");
      }
      args.target_probs = layout.to_rows(target.detach());
    } else {
      const Tensor t = detail::index_as_i64(target, op);
      if (t.device() != logits.device()) {
        throw Error("cross_entropy: target " + target.str() + " on " + target.device().str() + ", logits " +
                    logits.str() + " on " + logits.device().str());
      }
      if (t.shape() != layout.row_shape) {
        throw Error("cross_entropy: target " + target.str() + " does not match logits " + logits.str() +
                    " (expected class indices of shape " + shape_str(layout.row_shape) + " or probabilities of shape " +
                    shape_str(logits.shape()) + ")");
      }
      // Targets equal to ignore_index may hold any value; all others must name a class.
      const Tensor ignored = eq(t, Tensor::scalar(static_cast<double>(options.ignore_index), DType::i64, t.device()));
      const Tensor checked = where(ignored, Tensor::scalar(0, DType::i64, t.device()), t);
      if (const auto bad = detail::find_out_of_range(checked, layout.classes)) {
        throw Error("cross_entropy: target " + std::to_string(*bad) + " is out of range for " +
                    std::to_string(layout.classes) + " classes (logits " + logits.str() + ", ignore_index " +
                    std::to_string(options.ignore_index) + ")");
      }
      args.target_index = t.reshape({rows}).contiguous();
      row_weight = Tensor::empty({rows}, sd, logits.device());
    }
    args.logits = layout.to_rows(logits.detach());
    if (weight.defined()) args.weight = weight.detach().contiguous();
    loss_rows = Tensor::empty({rows}, sd, logits.device());
    lse = Tensor::empty({rows}, sd, logits.device());
    if (rows > 0) {
      cross_entropy_rows_kernels().get(logits.device(), logits.dtype())(args, loss_rows, lse, row_weight);
    } else if (row_weight.defined()) {
      fill_(row_weight, 0.0);
    }
    switch (options.reduction) {
      case Reduction::none:
        out = loss_rows.reshape(layout.row_shape);
        break;
      case Reduction::sum:
        out = sum(loss_rows);
        break;
      case Reduction::mean:
        // Class indices: Σ w[target] over the rows kept (NaN if none, as torch); probabilities: R rows.
        if (probability_target && rows == 0) {
          throw Error("cross_entropy: Reduction::mean over zero rows of logits " + logits.str());
        }
        divisor = probability_target ? Tensor::scalar(static_cast<double>(rows), sd, logits.device()) : sum(row_weight);
        out = div(sum(loss_rows), divisor);
        break;
    }
    out = cast(out, logits.dtype());
  }
  const bool want_target_grad = probability_target && target.requires_grad();
  const Reduction reduction = options.reduction;
  return record(
      out, op, {logits, target}, [args, lse, divisor, reduction, rows, sd, layout, want_target_grad](const Tensor& g) {
        const Tensor grad_row = grad_per_row(g, reduction, divisor, rows, sd);
        const Tensor dlogits = Tensor::empty(args.logits.shape(), args.logits.dtype(), g.device());
        const Tensor dtarget =
            want_target_grad ? Tensor::empty(args.logits.shape(), args.logits.dtype(), g.device()) : Tensor();
        if (rows > 0) {
          cross_entropy_rows_backward_kernels().get(g.device(), dlogits.dtype())(args, lse, grad_row, dlogits, dtarget);
        }
        return std::vector<Tensor>{layout.from_rows(dlogits), dtarget.defined() ? layout.from_rows(dtarget) : Tensor()};
      });
}

// ---- Gaussian KL ----------------------------------------------------------------------------
Tensor kl_normal_standard(const Tensor& mean, const Tensor& log_var, Reduction reduction) {
  constexpr const char* op = "kl_normal_standard";
  check_same_shape(mean, log_var, op, "mean", "log_var");
  if (mean.dim() == 0) {
    throw Error("kl_normal_standard: mean and log_var need a batch dimension, got " + mean.str());
  }
  const Shape in_shape = mean.shape();
  const std::int64_t batch = in_shape[0];
  const std::int64_t latent = shape_numel(Shape(in_shape.begin() + 1, in_shape.end()));
  const DType sd = stat_dtype(mean.dtype());
  Tensor m2, v2, kl_rows, divisor, out;
  {
    NoGradGuard guard;
    m2 = mean.detach().contiguous().reshape({batch, latent});
    v2 = log_var.detach().contiguous().reshape({batch, latent});
    kl_rows = Tensor::empty({batch}, sd, mean.device());
    if (batch > 0) kl_normal_standard_kernels().get(mean.device(), mean.dtype())(m2, v2, kl_rows);
    switch (reduction) {
      case Reduction::none:
        out = kl_rows;
        break;
      case Reduction::sum:
        out = sum(kl_rows);
        break;
      case Reduction::mean:
        if (batch == 0) throw Error("kl_normal_standard: Reduction::mean over an empty batch " + mean.str());
        divisor = Tensor::scalar(static_cast<double>(batch), sd, mean.device());
        out = div(sum(kl_rows), divisor);
        break;
    }
    out = cast(out, mean.dtype());
  }
  const bool gm = mean.requires_grad(), gv = log_var.requires_grad();
  return record(out, op, {mean, log_var}, [m2, v2, divisor, reduction, batch, sd, in_shape, gm, gv](const Tensor& g) {
    const Tensor grad_row = grad_per_row(g, reduction, divisor, batch, sd);
    const Tensor dm = gm ? Tensor::empty(m2.shape(), m2.dtype(), g.device()) : Tensor();
    const Tensor dv = gv ? Tensor::empty(v2.shape(), v2.dtype(), g.device()) : Tensor();
    if (batch > 0) {
      kl_normal_standard_backward_kernels().get(g.device(), m2.dtype())(m2, v2, grad_row, dm, dv);
    }
    return std::vector<Tensor>{gm ? dm.reshape(in_shape) : Tensor(), gv ? dv.reshape(in_shape) : Tensor()};
  });
}

}  // namespace kiln
