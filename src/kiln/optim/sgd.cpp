#include "kiln/optim/sgd.h"

#include "kiln/autograd/node.h"
#include "kiln/optim/fused_updates.h"

namespace kiln::optim {

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{ParamGroup{.params = std::move(params)}}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay, "SGD"), opt_(options) {
  require(opt_.momentum >= 0.0, "invalid momentum " + std::to_string(opt_.momentum));
  require(opt_.dampening >= 0.0, "invalid dampening " + std::to_string(opt_.dampening));
  require(!opt_.nesterov || (opt_.momentum > 0.0 && opt_.dampening == 0.0),
          "Nesterov momentum requires a momentum and zero dampening");
  declare_state(opt_.momentum != 0.0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{},
                /*eager=*/false);
  require_kernels(sgd_step_supported);
}

void SGD::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](const Group& group, const Tensor& p, const Tensor& g, ParamState& s) {
    Tensor buffer;
    const bool first = opt_.momentum != 0.0 && !s.tensors[0].defined();
    if (opt_.momentum != 0.0) buffer = first ? Tensor::empty(p.shape(), p.dtype(), p.device()) : s.tensors[0];
    sgd_step_(p, g, buffer,
              SgdStepArgs{.lr = group.lr,
                          .momentum = opt_.momentum,
                          .dampening = opt_.dampening,
                          .weight_decay = group.weight_decay,
                          .nesterov = opt_.nesterov,
                          .first_step = first});  // on the first step the kernel sets the buffer to d
    if (first) s.tensors[0] = buffer;
    ++s.step;
  });
}

}  // namespace kiln::optim
