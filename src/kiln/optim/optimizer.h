#pragma once
// Optimizer: holds parameter handles in groups and updates them in place from
// their .grad(). Each subclass reproduces one torch.optim update rule
// (PyTorch 1.13's single-tensor code path, operation for operation) as one
// fused kernel pass per parameter, so results match torch to rounding.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/tensor.h"
#include "kiln/nn/state_dict.h"

namespace kiln::optim {

/// Parameters that share per-group settings (torch's param_groups). An unset
/// field takes the optimizer's option of the same name.
///
///     Adam opt({{.params = decayed, .weight_decay = 0.1}, {.params = biases_and_norms, .weight_decay = 0.0}},
///              AdamOptions{.lr = 3e-4});
struct ParamGroup {
  std::vector<Tensor> params = {};
  std::optional<double> lr = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient (others are skipped
  /// and keep their state, as in PyTorch). Records no graph.
  virtual void step() = 0;
  /// Drops every parameter's gradient (PyTorch's default set_to_none=True).
  void zero_grad();

  // ---- learning rates ---------------------------------------------------
  std::size_t num_groups() const { return groups_.size(); }
  double group_lr(std::size_t group) const;
  void set_group_lr(std::size_t group, double lr);
  double group_weight_decay(std::size_t group) const;
  /// The learning rate all groups share (the only one with a single group).
  /// Throws, listing each group's lr, when the groups differ: use group_lr().
  double lr() const;
  /// Sets every group's learning rate to `lr`.
  void set_lr(double lr);

  /// Every parameter, groups in order; positions here are the parameter
  /// indices of state_dict() ("state.<index>.…").
  const std::vector<Tensor>& parameters() const { return params_; }
  /// The parameters of one group.
  std::vector<Tensor> group_parameters(std::size_t group) const;
  const std::string& name() const { return name_; }

  // ---- checkpoints ------------------------------------------------------
  /// A snapshot (copies, not views: the live state changes every step) of
  ///   group.<g>.lr            f64 scalar per group (exact, so a resume is bit for bit)
  ///   state.<i>.step          i64 scalar per parameter: updates applied so far
  ///   state.<i>.<tensor>      each state tensor that exists, e.g. state.0.exp_avg
  /// Optimizers that create their state at a parameter's first step (all but
  /// Adagrad) list no state tensors for a parameter whose step is 0.
  nn::StateDict state_dict() const;
  /// Replaces all groups' learning rates and all per-parameter state with
  /// copies of `state`'s tensors (moved to each parameter's device). Every name
  /// must be one state_dict() of this optimizer would write, and each tensor
  /// must have the expected dtype and shape; otherwise throws one Error naming
  /// every offending entry, and nothing is changed.
  void load_state_dict(const nn::StateDict& state);

 protected:
  /// `lr` and `weight_decay` are the optimizer's options, used by groups that
  /// do not set their own; `name` ("SGD", "Adam", ...) begins error messages.
  /// Throws if no group has parameters, or a parameter is undefined, not a
  /// floating-point leaf, or listed twice (in one group or two).
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, std::string name);

  struct Group {
    double lr;
    double weight_decay;
    std::size_t begin, end;  ///< the group's parameters are parameters()[begin, end)
  };
  /// A parameter's state: its step count and the tensors named by declare_state() (undefined until created).
  struct ParamState {
    std::int64_t step = 0;
    std::vector<Tensor> tensors;
  };

  /// Names the per-parameter state tensors, in the order of ParamState::tensors.
  /// `eager`: they exist from construction (the subclass creates them) rather
  /// than from a parameter's first step. Called once by the subclass constructor.
  void declare_state(std::vector<std::string> names, bool eager);
  /// Throws naming each parameter `supported` rejects (a dtype/device without
  /// a fused update kernel).
  void require_kernels(bool (*supported)(const Tensor&)) const;

  /// Calls fn(group, param, grad, state) for every parameter that has a gradient.
  template <class Fn>
  void for_each_param_with_grad(Fn&& fn) {
    for (const Group& group : groups_) {
      for (std::size_t i = group.begin; i < group.end; ++i) {
        const Tensor grad = params_[i].grad();
        if (grad.defined()) fn(group, params_[i], grad, state_[i]);
      }
    }
  }
  ParamState& state(std::size_t index) { return state_[index]; }

  /// Throws naming the optimizer unless `ok`.
  void require(bool ok, const std::string& what) const;
  /// "parameter 3 (group 1, f32[4, 4])" for messages.
  std::string describe_param(std::size_t index) const;

 private:
  const Group& group_at(std::size_t group) const;  ///< throws for a bad index
  std::size_t group_of(std::size_t index) const;

  std::vector<Tensor> params_;
  std::vector<Group> groups_;
  std::vector<ParamState> state_;
  std::vector<std::string> state_names_;
  bool state_is_eager_ = false;
  std::string name_;
};

/// A zero tensor shaped like `p` on p's device (state buffers).
Tensor zeros_like(const Tensor& p);

}  // namespace kiln::optim
