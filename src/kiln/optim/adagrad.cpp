#include "kiln/optim/adagrad.h"

#include "kiln/ops/ops.h"

namespace kiln::optim {

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& options)
    : Optimizer(std::move(params), options.lr, "Adagrad"), opt_(options), steps_(params_.size(), 0) {
  require(opt_.lr_decay >= 0.0, "invalid lr_decay " + std::to_string(opt_.lr_decay));
  require(opt_.weight_decay >= 0.0, "invalid weight_decay " + std::to_string(opt_.weight_decay));
  require(opt_.initial_accumulator_value >= 0.0,
          "invalid initial_accumulator_value " + std::to_string(opt_.initial_accumulator_value));
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  // PyTorch creates the accumulators eagerly in the constructor.
  for (const Tensor& p : params_) {
    sums_.push_back(Tensor::full(p.shape(), opt_.initial_accumulator_value, p.dtype(), p.device()));
  }
}

void Adagrad::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const std::int64_t t = ++steps_[i];
    if (opt_.weight_decay != 0.0) g = add(g, mul(p, opt_.weight_decay));
    const double clr = lr_ / (1.0 + static_cast<double>(t - 1) * opt_.lr_decay);
    add_(sums_[i], mul(g, g));
    const Tensor std_dev = add(sqrt(sums_[i]), opt_.eps);
    add_scaled_(p, div(g, std_dev), -clr);
  }
}

}  // namespace kiln::optim
