#pragma once
// torch.optim.RMSprop.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< default for groups that set none
  double momentum = 0.0;
  bool centered = false;
};

/// g += wd·p;  s = α·s + (1-α)·g²;  centred: a = α·a + (1-α)·g, avg = √(s - a²), else avg = √s;
/// avg += eps;  momentum: buf = μ·buf + g/avg, p -= lr·buf;  else p -= lr·g/avg. One fused pass.
/// State per parameter, from its first step: "square_avg", "momentum_buffer"
/// (momentum > 0), "grad_avg" (centered).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options);
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options);
  void step() override;
  const RMSpropOptions& options() const { return opt_; }

 private:
  RMSpropOptions opt_;
  // Positions in ParamState::tensors (npos when the option is off).
  std::size_t momentum_slot_, grad_avg_slot_;
};

}  // namespace kiln::optim
