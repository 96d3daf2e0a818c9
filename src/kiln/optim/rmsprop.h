#pragma once
// torch.optim.RMSprop.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

/// g += wd·p;  s = α·s + (1-α)·g²;  centred: a = α·a + (1-α)·g, avg = √(s - a²), else avg = √s;
/// avg += eps;  momentum: buf = μ·buf + g/avg, p -= lr·buf;  else p -= lr·g/avg.
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options);
  void step() override;

 private:
  struct State {
    Tensor square_avg, grad_avg, momentum_buffer;
  };
  RMSpropOptions opt_;
  std::vector<State> state_;
};

}  // namespace kiln::optim
