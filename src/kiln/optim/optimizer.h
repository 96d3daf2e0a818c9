#pragma once
// Optimizer: holds parameter handles and updates them in place from their
// .grad(). Each subclass reproduces one torch.optim update rule exactly
// (PyTorch 1.13's single-tensor code path), so results match to rounding.
#include <string>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::optim {

class Optimizer {
 public:
  /// `name` is used in error messages ("SGD", "Adam", ...).
  Optimizer(std::vector<Tensor> params, double lr, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient (others are skipped,
  /// as in PyTorch). Runs without recording a graph.
  virtual void step() = 0;
  /// Drops every parameter's gradient (PyTorch's default set_to_none=True).
  void zero_grad();

  double lr() const { return lr_; }
  /// Used by learning-rate schedules.
  void set_lr(double lr);
  const std::vector<Tensor>& parameters() const { return params_; }
  const std::string& name() const { return name_; }

 protected:
  /// Throws naming the optimizer and the option unless `ok`.
  void require(bool ok, const std::string& what) const;

  std::vector<Tensor> params_;
  double lr_;
  std::string name_;
};

/// A zero tensor shaped like `p` (state buffers).
Tensor zeros_like(const Tensor& p);

}  // namespace kiln::optim
