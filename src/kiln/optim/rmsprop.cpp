#include "kiln/optim/rmsprop.h"

#include <string>

#include "kiln/autograd/node.h"
#include "kiln/optim/fused_updates.h"

namespace kiln::optim {

namespace {
constexpr std::size_t kNone = static_cast<std::size_t>(-1);
}  // namespace

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& options)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, options) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay, "RMSprop"), opt_(options) {
  require(opt_.eps >= 0.0, "invalid eps " + std::to_string(opt_.eps));
  require(opt_.alpha >= 0.0, "invalid alpha " + std::to_string(opt_.alpha));
  require(opt_.momentum >= 0.0, "invalid momentum " + std::to_string(opt_.momentum));
  // torch's state order: square_avg, then momentum_buffer, then grad_avg.
  std::vector<std::string> names{"square_avg"};
  momentum_slot_ = opt_.momentum > 0.0 ? names.size() : kNone;
  if (opt_.momentum > 0.0) names.emplace_back("momentum_buffer");
  grad_avg_slot_ = opt_.centered ? names.size() : kNone;
  if (opt_.centered) names.emplace_back("grad_avg");
  declare_state(std::move(names), /*eager=*/false);
  require_kernels(rmsprop_step_supported);
}

void RMSprop::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](const Group& group, const Tensor& p, const Tensor& g, ParamState& s) {
    const bool first = s.step == 0;  // the state is created now, and kept only if the update succeeds
    const auto slot = [&](std::size_t k) { return k == kNone ? Tensor() : first ? zeros_like(p) : s.tensors[k]; };
    const Tensor square_avg = slot(0), momentum_buffer = slot(momentum_slot_), grad_avg = slot(grad_avg_slot_);
    rmsprop_step_(p, g, square_avg, grad_avg, momentum_buffer,
                  RmspropStepArgs{.lr = group.lr,
                                  .alpha = opt_.alpha,
                                  .eps = opt_.eps,
                                  .weight_decay = group.weight_decay,
                                  .momentum = opt_.momentum,
                                  .centered = opt_.centered});
    if (first) {
      s.tensors[0] = square_avg;
      if (momentum_slot_ != kNone) s.tensors[momentum_slot_] = momentum_buffer;
      if (grad_avg_slot_ != kNone) s.tensors[grad_avg_slot_] = grad_avg;
    }
    ++s.step;
  });
}

}  // namespace kiln::optim
