#pragma once
// torch.optim.Adam and torch.optim.AdamW.
#include <vector>

#include "kiln/optim/optimizer.h"

namespace kiln::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< L2 penalty added to the gradient (Adam) or decoupled decay (AdamW)
  bool amsgrad = false;
};

/// AdamW's options: the same fields, but weight_decay defaults to 1e-2 as in PyTorch.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

/// m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  (AMSGrad: v̂ = max(v̂, v))
/// p -= lr/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps), one fused pass per parameter.
/// Adam adds weight_decay·p to g first; AdamW instead scales p by (1 - lr·wd).
/// State per parameter, from its first step: "exp_avg", "exp_avg_sq", and
/// "max_exp_avg_sq" with AMSGrad.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options);
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options);
  void step() override;
  /// One update as if every gradient had first been multiplied by grad_scale
  /// (what clip_grad_norm_ would do), in the same single pass; the stored
  /// gradients are left as they are.
  void step_scaled(double grad_scale);
  const AdamOptions& options() const { return opt_; }

 protected:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled, const char* name);

 private:
  AdamOptions opt_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options);
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options);
};

}  // namespace kiln::optim
