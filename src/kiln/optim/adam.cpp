#include "kiln/optim/adam.h"

#include <cmath>

#include "kiln/ops/ops.h"

namespace kiln::optim {

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options) : Adam(std::move(params), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled, const char* name)
    : Optimizer(std::move(params), options.lr, name), opt_(options), decoupled_(decoupled), state_(params_.size()) {
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  require(opt_.beta1 >= 0.0 && opt_.beta1 < 1.0, "invalid beta1 " + std::to_string(opt_.beta1) + " (must be in [0, 1))");
  require(opt_.beta2 >= 0.0 && opt_.beta2 < 1.0, "invalid beta2 " + std::to_string(opt_.beta2) + " (must be in [0, 1))");
  require(opt_.weight_decay >= 0.0, "invalid weight_decay " + std::to_string(opt_.weight_decay));
}

void Adam::step() {
  NoGradGuard no_grad;
  const double b1 = opt_.beta1, b2 = opt_.beta2;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    State& s = state_[i];
    if (s.step == 0) {
      s.exp_avg = zeros_like(p);
      s.exp_avg_sq = zeros_like(p);
      if (opt_.amsgrad) s.max_exp_avg_sq = zeros_like(p);
    }
    ++s.step;
    if (opt_.weight_decay != 0.0) {
      if (decoupled_) {
        mul_(p, 1.0 - lr_ * opt_.weight_decay);
      } else {
        g = add(g, mul(p, opt_.weight_decay));
      }
    }
    mul_(s.exp_avg, b1);
    add_scaled_(s.exp_avg, g, 1.0 - b1);
    mul_(s.exp_avg_sq, b2);
    add_scaled_(s.exp_avg_sq, mul(g, g), 1.0 - b2);

    const double steps = static_cast<double>(s.step);
    const double bias_correction1 = 1.0 - std::pow(b1, steps);
    const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(b2, steps));
    Tensor second = s.exp_avg_sq;
    if (opt_.amsgrad) {
      copy_(s.max_exp_avg_sq, maximum(s.max_exp_avg_sq, s.exp_avg_sq));
      second = s.max_exp_avg_sq;
    }
    const Tensor denom = add(div(sqrt(second), bias_correction2_sqrt), opt_.eps);
    add_scaled_(p, div(s.exp_avg, denom), -lr_ / bias_correction1);
  }
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& o)
    : Adam(std::move(params),
           AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay,
                       .amsgrad = o.amsgrad},
           true, "AdamW") {}

}  // namespace kiln::optim
