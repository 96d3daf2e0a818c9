#pragma once
// torch.optim.Adagrad.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;  ///< default for groups that set none
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

/// g += wd·p;  clr = lr / (1 + (t-1)·lr_decay);  sum += g²;  p -= clr·g/(√sum + eps). One fused pass.
/// State per parameter: "sum", created at construction as in PyTorch.
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options);
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options);
  void step() override;
  const AdagradOptions& options() const { return opt_; }

 private:
  AdagradOptions opt_;
};

}  // namespace kiln::optim
