#pragma once
// torch.optim.SGD.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  ///< default for groups that set none
  bool nesterov = false;
};

/// d = g + wd·p; with momentum: buf = d on the first step, else
/// buf = momentum·buf + (1 - dampening)·d, and d = d + momentum·buf (Nesterov)
/// or d = buf; then p -= lr·d. One fused pass per parameter.
/// State per parameter: "momentum_buffer" (with momentum, from the first step).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);
  void step() override;
  const SGDOptions& options() const { return opt_; }

 private:
  SGDOptions opt_;
};

}  // namespace kiln::optim
