#include "kiln/optim/optimizer.h"

namespace kiln::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::string name)
    : params_(std::move(params)), lr_(lr), name_(std::move(name)) {
  require(!params_.empty(), "got an empty parameter list");
  require(lr >= 0.0, "invalid learning rate " + std::to_string(lr) + " (must be >= 0)");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    require(p.defined(), "parameter " + std::to_string(i) + " is undefined");
    require(is_floating(p.dtype()), "parameter " + std::to_string(i) + " is " + p.str() + ", not floating point");
    require(p.is_leaf(), "parameter " + std::to_string(i) + " " + p.str() + " is not a leaf tensor");
    for (std::size_t j = 0; j < i; ++j) {
      require(params_[j].id() != p.id(), "parameter " + std::to_string(i) + " appears twice in the list");
    }
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  require(lr >= 0.0, "invalid learning rate " + std::to_string(lr) + " (must be >= 0)");
  lr_ = lr;
}

void Optimizer::require(bool ok, const std::string& what) const {
  if (!ok) throw Error(name_ + ": " + what);
}

Tensor zeros_like(const Tensor& p) { return Tensor::zeros(p.shape(), p.dtype(), p.device()); }

}  // namespace kiln::optim
