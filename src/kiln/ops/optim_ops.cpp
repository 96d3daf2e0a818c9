// The optim kernel tables and the op layer in front of them (declared in
// optim/fused_updates.h): operand checks, contiguity, then one kernel call.
#include <string>

#include "kiln/autograd/node.h"
#include "kiln/ops/op_checks.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/optim_kernels.h"
#include "kiln/optim/fused_updates.h"

namespace kiln {

#define KILN_KERNEL_TABLE(fn, Sig, name) \
  KernelTable<Sig>& fn() {               \
    static KernelTable<Sig> table(name); \
    return table;                        \
  }

KILN_KERNEL_TABLE(sgd_step_kernels, SgdStepKernel, "sgd_step")
KILN_KERNEL_TABLE(adam_step_kernels, AdamStepKernel, "adam_step")
KILN_KERNEL_TABLE(rmsprop_step_kernels, RmspropStepKernel, "rmsprop_step")
KILN_KERNEL_TABLE(adagrad_step_kernels, AdagradStepKernel, "adagrad_step")
KILN_KERNEL_TABLE(sum_squares_kernels, SumSquaresKernel, "sum_squares")
KILN_KERNEL_TABLE(clamp_kernels, ClampKernel, "clamp")

#undef KILN_KERNEL_TABLE

namespace optim {

namespace {

// `t` (called `role` in messages) must match the parameter exactly; undefined means "not used".
void check_like_param(const char* op, const Tensor& param, const Tensor& t, const char* role) {
  if (!t.defined()) return;
  detail::check_same_kind(param, t, op);
  if (t.shape() != param.shape()) {
    throw Error(std::string(op) + ": " + role + " is " + t.str() + " but the parameter is " + param.str());
  }
}

void check_state(const char* op, const Tensor& param, const Tensor& state, const char* role) {
  check_like_param(op, param, state, role);
  if (state.defined() && !state.is_contiguous()) {
    throw Error(std::string(op) + ": state tensor " + role + " " + state.str() + " is not contiguous");
  }
}

Tensor contiguous_grad(const char* op, const Tensor& param, const Tensor& grad) {
  if (!grad.defined()) throw Error(std::string(op) + ": the parameter " + param.str() + " has no gradient");
  check_like_param(op, param, grad, "the gradient");
  return grad.is_contiguous() ? grad : grad.contiguous();
}

// Runs `update` on the parameter itself when it is contiguous, else on a
// contiguous copy that is written back (a parameter that is a strided view is rare).
template <class Update>
void update_param(const Tensor& param, Update&& update) {
  param.storage()->bump_version();
  if (param.is_contiguous()) {
    update(param);
    return;
  }
  Tensor work = param.contiguous();
  update(work);
  Tensor target = param;
  copy_(target, work);
}

}  // namespace

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer, const SgdStepArgs& args) {
  constexpr const char* op = "sgd_step";
  NoGradGuard no_grad;
  const Tensor g = contiguous_grad(op, param, grad);
  if (args.momentum != 0.0 && !momentum_buffer.defined()) {
    throw Error("sgd_step: momentum " + std::to_string(args.momentum) + " needs a momentum buffer");
  }
  check_state(op, param, momentum_buffer, "momentum_buffer");
  auto* kernel = sgd_step_kernels().get(param.device(), param.dtype());
  update_param(param, [&](const Tensor& p) { kernel(p, g, momentum_buffer, args); });
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const Tensor& max_exp_avg_sq, const AdamStepArgs& args, const Tensor& param_bf16) {
  constexpr const char* op = "adam_step";
  NoGradGuard no_grad;
  const Tensor g = contiguous_grad(op, param, grad);
  if (!exp_avg.defined() || !exp_avg_sq.defined()) throw Error("adam_step: exp_avg and exp_avg_sq are required");
  check_state(op, param, exp_avg, "exp_avg");
  check_state(op, param, exp_avg_sq, "exp_avg_sq");
  check_state(op, param, max_exp_avg_sq, "max_exp_avg_sq");
  if (param_bf16.defined()) {
    if (param.dtype() != DType::f32 || param_bf16.dtype() != DType::bf16 || param_bf16.shape() != param.shape() ||
        param_bf16.device() != param.device() || !param_bf16.is_contiguous() || !param.is_contiguous()) {
      throw Error("adam_step: the bf16 copy " + param_bf16.str() + " must be a contiguous bf16 tensor of the f32 parameter " +
                  param.str() + "'s shape, on its device, and the parameter contiguous");
    }
    param_bf16.storage()->bump_version();
  }
  auto* kernel = adam_step_kernels().get(param.device(), param.dtype());
  update_param(param, [&](const Tensor& p) { kernel(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, param_bf16, args); });
}

void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                   const Tensor& momentum_buffer, const RmspropStepArgs& args) {
  constexpr const char* op = "rmsprop_step";
  NoGradGuard no_grad;
  const Tensor g = contiguous_grad(op, param, grad);
  if (!square_avg.defined()) throw Error("rmsprop_step: square_avg is required");
  if (args.centered && !grad_avg.defined()) throw Error("rmsprop_step: centered needs grad_avg");
  if (args.momentum > 0.0 && !momentum_buffer.defined()) {
    throw Error("rmsprop_step: momentum " + std::to_string(args.momentum) + " needs a momentum buffer");
  }
  check_state(op, param, square_avg, "square_avg");
  check_state(op, param, grad_avg, "grad_avg");
  check_state(op, param, momentum_buffer, "momentum_buffer");
  auto* kernel = rmsprop_step_kernels().get(param.device(), param.dtype());
  update_param(param, [&](const Tensor& p) { kernel(p, g, square_avg, grad_avg, momentum_buffer, args); });
}

void adagrad_step_(const Tensor& param, const Tensor& grad, const Tensor& sum, const AdagradStepArgs& args) {
  constexpr const char* op = "adagrad_step";
  NoGradGuard no_grad;
  const Tensor g = contiguous_grad(op, param, grad);
  if (!sum.defined()) throw Error("adagrad_step: sum is required");
  check_state(op, param, sum, "sum");
  auto* kernel = adagrad_step_kernels().get(param.device(), param.dtype());
  update_param(param, [&](const Tensor& p) { kernel(p, g, sum, args); });
}

bool sgd_step_supported(const Tensor& param) {
  return sgd_step_kernels().supports(param.device().kind, param.dtype());
}
bool adam_step_supported(const Tensor& param) {
  return adam_step_kernels().supports(param.device().kind, param.dtype());
}
bool rmsprop_step_supported(const Tensor& param) {
  return rmsprop_step_kernels().supports(param.device().kind, param.dtype());
}
bool adagrad_step_supported(const Tensor& param) {
  return adagrad_step_kernels().supports(param.device().kind, param.dtype());
}

void sum_squares_accumulate_(const Tensor& x, const Tensor& acc) {
  if (!x.defined() || !acc.defined()) throw Error("sum_squares: undefined operand");
  if (acc.dtype() != DType::f64 || acc.numel() != 1 || !acc.is_contiguous()) {
    throw Error("sum_squares: the accumulator must be a one-element f64 tensor, got " + acc.str());
  }
  if (acc.device() != x.device()) {
    throw Error("sum_squares: " + x.str() + " is on " + x.device().str() + " but the accumulator is on " +
                acc.device().str());
  }
  if (!is_floating(x.dtype())) throw Error("sum_squares: " + x.str() + " is not floating point");
  NoGradGuard no_grad;
  const Tensor xc = x.is_contiguous() ? x : x.contiguous();
  sum_squares_kernels().get(x.device(), x.dtype())(xc, acc);
}

void clamp_(const Tensor& x, double lo, double hi) {
  if (!x.defined()) throw Error("clamp_: undefined operand");
  if (!(lo <= hi)) {
    throw Error("clamp_: the lower bound " + std::to_string(lo) + " exceeds the upper bound " + std::to_string(hi));
  }
  NoGradGuard no_grad;
  auto* kernel = clamp_kernels().get(x.device(), x.dtype());
  update_param(x, [&](const Tensor& c) { kernel(c, lo, hi); });
}

}  // namespace optim
}  // namespace kiln
