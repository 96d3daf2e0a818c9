#include "kiln/optim/adagrad.h"

#include <string>

#include "kiln/autograd/node.h"
#include "kiln/optim/fused_updates.h"

namespace kiln::optim {

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& options)
    : Adagrad(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay, "Adagrad"), opt_(options) {
  require(opt_.lr_decay >= 0.0, "invalid lr_decay " + std::to_string(opt_.lr_decay));
  require(opt_.initial_accumulator_value >= 0.0,
          "invalid initial_accumulator_value " + std::to_string(opt_.initial_accumulator_value));
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  declare_state({"sum"}, /*eager=*/true);
  require_kernels(adagrad_step_supported);
  // PyTorch creates the accumulators eagerly in the constructor.
  for (std::size_t i = 0; i < parameters().size(); ++i) {
    const Tensor& p = parameters()[i];
    state(i).tensors[0] = Tensor::full(p.shape(), opt_.initial_accumulator_value, p.dtype(), p.device());
  }
}

void Adagrad::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](const Group& group, const Tensor& p, const Tensor& g, ParamState& s) {
    const auto t = static_cast<double>(s.step + 1);
    adagrad_step_(p, g, s.tensors[0],
                  AdagradStepArgs{.clr = group.lr / (1.0 + (t - 1.0) * opt_.lr_decay),
                                  .eps = opt_.eps,
                                  .weight_decay = group.weight_decay});
    ++s.step;
  });
}

}  // namespace kiln::optim
