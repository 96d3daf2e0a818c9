#include "kiln/optim/rmsprop.h"

#include "kiln/ops/ops.h"

namespace kiln::optim {

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& options)
    : Optimizer(std::move(params), options.lr, "RMSprop"), opt_(options), state_(params_.size()) {
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  require(opt_.alpha >= 0.0, "invalid alpha " + std::to_string(opt_.alpha));
  require(opt_.momentum >= 0.0, "invalid momentum " + std::to_string(opt_.momentum));
  require(opt_.weight_decay >= 0.0, "invalid weight_decay " + std::to_string(opt_.weight_decay));
}

void RMSprop::step() {
  NoGradGuard no_grad;
  const double a = opt_.alpha;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    State& s = state_[i];
    if (!s.square_avg.defined()) {
      s.square_avg = zeros_like(p);
      if (opt_.momentum > 0.0) s.momentum_buffer = zeros_like(p);
      if (opt_.centered) s.grad_avg = zeros_like(p);
    }
    if (opt_.weight_decay != 0.0) g = add(g, mul(p, opt_.weight_decay));
    mul_(s.square_avg, a);
    add_scaled_(s.square_avg, mul(g, g), 1.0 - a);
    Tensor avg;
    if (opt_.centered) {
      mul_(s.grad_avg, a);
      add_scaled_(s.grad_avg, g, 1.0 - a);
      avg = sqrt(sub(s.square_avg, mul(s.grad_avg, s.grad_avg)));
    } else {
      avg = sqrt(s.square_avg);
    }
    avg = add(avg, opt_.eps);
    if (opt_.momentum > 0.0) {
      mul_(s.momentum_buffer, opt_.momentum);
      add_(s.momentum_buffer, div(g, avg));
      add_scaled_(p, s.momentum_buffer, -lr_);
    } else {
      add_scaled_(p, div(g, avg), -lr_);
    }
  }
}

}  // namespace kiln::optim
