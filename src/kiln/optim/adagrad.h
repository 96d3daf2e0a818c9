#pragma once
// torch.optim.Adagrad.
#include <cstdint>
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

/// g += wd·p;  clr = lr / (1 + (t-1)·lr_decay);  sum += g²;  p -= clr·g/(√sum + eps).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options);
  void step() override;

 private:
  AdagradOptions opt_;
  std::vector<std::int64_t> steps_;
  std::vector<Tensor> sums_;
};

}  // namespace kiln::optim
