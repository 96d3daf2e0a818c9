#include "kiln/optim/sgd.h"

#include "kiln/ops/ops.h"

namespace kiln::optim {

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), options.lr, "SGD"), opt_(options), momentum_(params_.size()) {
  require(opt_.momentum >= 0.0, "invalid momentum " + std::to_string(opt_.momentum));
  require(opt_.weight_decay >= 0.0, "invalid weight_decay " + std::to_string(opt_.weight_decay));
  require(!opt_.nesterov || (opt_.momentum > 0.0 && opt_.dampening == 0.0),
          "Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor d = opt_.weight_decay != 0.0 ? add(g, mul(p, opt_.weight_decay)) : g;
    if (opt_.momentum != 0.0) {
      Tensor& buf = momentum_[i];
      if (!buf.defined()) {
        buf = d.clone();
      } else {
        mul_(buf, opt_.momentum);
        add_scaled_(buf, d, 1.0 - opt_.dampening);
      }
      d = opt_.nesterov ? add(d, mul(buf, opt_.momentum)) : buf;
    }
    add_scaled_(p, d, -lr_);
  }
}

}  // namespace kiln::optim
