#include "kiln/optim/adam.h"

#include <cmath>

#include "kiln/autograd/node.h"
#include "kiln/ops/autocast.h"
#include "kiln/optim/fused_updates.h"

namespace kiln::optim {

namespace {
enum Slot : std::size_t { kExpAvg, kExpAvgSq, kMaxExpAvgSq };

AdamOptions as_adam(const AdamWOptions& o) {
  return AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay,
                     .amsgrad = o.amsgrad};
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, options, false, "Adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options)
    : Adam(std::move(groups), options, false, "Adam") {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled, const char* name)
    : Optimizer(std::move(groups), options.lr, options.weight_decay, name), opt_(options), decoupled_(decoupled) {
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  require(opt_.beta1 >= 0.0 && opt_.beta1 < 1.0, "invalid beta1 " + std::to_string(opt_.beta1) + " (must be in [0, 1))");
  require(opt_.beta2 >= 0.0 && opt_.beta2 < 1.0, "invalid beta2 " + std::to_string(opt_.beta2) + " (must be in [0, 1))");
  std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  if (opt_.amsgrad) names.emplace_back("max_exp_avg_sq");
  declare_state(std::move(names), /*eager=*/false);
  require_kernels(adam_step_supported);
}

void Adam::step() { step_scaled(1.0); }

void Adam::step_scaled(double grad_scale) {
  if (!(grad_scale >= 0.0) || !std::isfinite(grad_scale)) {
    throw Error(name() + ": grad_scale must be finite and >= 0, got " + std::to_string(grad_scale));
  }
  NoGradGuard no_grad;
  const double b1 = opt_.beta1, b2 = opt_.beta2;
  for_each_param_with_grad([&](const Group& group, const Tensor& p, const Tensor& g, ParamState& s) {
    const bool first = s.step == 0;  // the moments are created now, and kept only if the update succeeds
    const Tensor m = first ? zeros_like(p) : s.tensors[kExpAvg];
    const Tensor v = first ? zeros_like(p) : s.tensors[kExpAvgSq];
    const Tensor v_max = !opt_.amsgrad ? Tensor() : first ? zeros_like(p) : s.tensors[kMaxExpAvgSq];
    // Bias corrections from the step count, on the host, as torch 1.13 does.
    const auto t = static_cast<double>(s.step + 1);
    const Tensor p16 = cast_mirror_for_update(p);  // autocast's bf16 copy, refreshed in the same pass
    adam_step_(p, g, m, v, v_max,
               AdamStepArgs{.lr = group.lr,
                            .beta1 = b1,
                            .beta2 = b2,
                            .eps = opt_.eps,
                            .weight_decay = group.weight_decay,
                            .decoupled_weight_decay = decoupled_,
                            .bias_correction1 = 1.0 - std::pow(b1, t),
                            .bias_correction2_sqrt = std::sqrt(1.0 - std::pow(b2, t)),
                            .grad_scale = grad_scale},
               p16);
    if (p16.defined()) mark_cast_mirror_current(p);
    if (first) {
      s.tensors[kExpAvg] = m;
      s.tensors[kExpAvgSq] = v;
      if (opt_.amsgrad) s.tensors[kMaxExpAvgSq] = v_max;
    }
    ++s.step;
  });
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options)
    : Adam(std::move(groups), as_adam(options), true, "AdamW") {}

}  // namespace kiln::optim
