#include "kiln/optim/optimizer.h"

#include <unordered_map>

#include "kiln/autograd/node.h"
#include "kiln/nn/format.h"
#include "kiln/optim/state_reader.h"

namespace kiln::optim {

namespace {

// `where` is empty or " for group <g>".
void check_rate(const std::string& optimizer, const std::string& what, double value, const std::string& where = "") {
  if (!(value >= 0.0)) {
    throw Error(optimizer + ": invalid " + what + " " + nn::number_text(value) + where + " (must be >= 0)");
  }
}

}  // namespace

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, std::string name)
    : name_(std::move(name)) {
  check_rate(name_, "learning rate", lr);
  check_rate(name_, "weight_decay", weight_decay);
  // Where each parameter was first seen, to name both places of a duplicate.
  std::unordered_map<const TensorImpl*, std::pair<std::size_t, std::size_t>> seen;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const ParamGroup& pg = groups[g];
    const double group_lr = pg.lr.value_or(lr);
    const double group_wd = pg.weight_decay.value_or(weight_decay);
    check_rate(name_, "learning rate", group_lr, " for group " + std::to_string(g));
    check_rate(name_, "weight_decay", group_wd, " for group " + std::to_string(g));
    const std::size_t begin = params_.size();
    for (std::size_t k = 0; k < pg.params.size(); ++k) {
      const Tensor& p = pg.params[k];
      const std::string where = "parameter " + std::to_string(k) + " of group " + std::to_string(g);
      require(p.defined(), where + " is undefined");
      require(is_floating(p.dtype()), where + " is " + p.str() + ", not floating point");
      require(p.is_leaf(), where + " " + p.str() + " is not a leaf tensor");
      const auto [it, fresh] = seen.emplace(p.id(), std::pair{g, k});
      require(fresh, where + " " + p.str() + " is also parameter " + std::to_string(it->second.second) +
                         " of group " + std::to_string(it->second.first) + "; list each parameter once");
      params_.push_back(p);
    }
    groups_.push_back(Group{.lr = group_lr, .weight_decay = group_wd, .begin = begin, .end = params_.size()});
  }
  require(!params_.empty(), "got an empty parameter list");
  state_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

const Optimizer::Group& Optimizer::group_at(std::size_t group) const {
  require(group < groups_.size(),
          "no group " + std::to_string(group) + " (there are " + std::to_string(groups_.size()) + ")");
  return groups_[group];
}

double Optimizer::group_lr(std::size_t group) const { return group_at(group).lr; }

void Optimizer::set_group_lr(std::size_t group, double lr) {
  static_cast<void>(group_at(group));  // validates the index
  check_rate(name_, "learning rate", lr, " for group " + std::to_string(group));
  groups_[group].lr = lr;
}

double Optimizer::group_weight_decay(std::size_t group) const { return group_at(group).weight_decay; }

double Optimizer::lr() const {
  bool same = true;
  for (const Group& g : groups_) same = same && g.lr == groups_.front().lr;
  if (!same) {
    std::string rates;
    for (const Group& g : groups_) rates += (rates.empty() ? "" : ", ") + nn::number_text(g.lr);
    throw Error(name_ + ": lr() is ambiguous, the groups have different learning rates (" + rates +
                "); use group_lr(group)");
  }
  return groups_.front().lr;
}

void Optimizer::set_lr(double lr) {
  check_rate(name_, "learning rate", lr);
  for (Group& g : groups_) g.lr = lr;
}

std::vector<Tensor> Optimizer::group_parameters(std::size_t group) const {
  const Group& g = group_at(group);
  return {params_.begin() + static_cast<std::ptrdiff_t>(g.begin), params_.begin() + static_cast<std::ptrdiff_t>(g.end)};
}

void Optimizer::declare_state(std::vector<std::string> names, bool eager) {
  state_names_ = std::move(names);
  state_is_eager_ = eager;
  for (ParamState& s : state_) s.tensors.resize(state_names_.size());
}

void Optimizer::require_kernels(bool (*supported)(const Tensor&)) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    require(supported(p), describe_param(i) + ": no fused " + name_ + " update is registered for " +
                              dtype_name(p.dtype()) + " on " + p.device().str() +
                              "; keep parameters in f32 or f64 (16-bit parameters would need f32 master "
                              "weights, which kiln does not keep yet)");
  }
}

void Optimizer::require(bool ok, const std::string& what) const {
  if (!ok) throw Error(name_ + ": " + what);
}

std::size_t Optimizer::group_of(std::size_t index) const {
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (index >= groups_[g].begin && index < groups_[g].end) return g;
  }
  return groups_.size();
}

std::string Optimizer::describe_param(std::size_t index) const {
  return "parameter " + std::to_string(index) + " (group " + std::to_string(group_of(index)) + ", " +
         params_[index].str() + ")";
}

// ---- checkpoints ---------------------------------------------------------------

namespace {
std::string group_lr_name(std::size_t g) { return "group." + std::to_string(g) + ".lr"; }
std::string state_name(std::size_t i, const std::string& what) { return "state." + std::to_string(i) + "." + what; }
// A contiguous copy of `t` on `device` that shares no storage with `t`.
Tensor owned_copy_on(const Tensor& t, Device device) {
  const Tensor moved = t.to(device);
  return moved.storage() == t.storage() ? moved.clone() : moved.contiguous();
}
}  // namespace

nn::StateDict Optimizer::state_dict() const {
  NoGradGuard no_grad;
  nn::StateDict out;
  for (std::size_t g = 0; g < groups_.size(); ++g) out.add(group_lr_name(g), Tensor::scalar(groups_[g].lr, DType::f64));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ParamState& s = state_[i];
    out.add(state_name(i, "step"), Tensor::from_vector(std::vector<std::int64_t>{s.step}, {}));
    for (std::size_t k = 0; k < state_names_.size(); ++k) {
      if (s.tensors[k].defined()) out.add(state_name(i, state_names_[k]), s.tensors[k].clone());
    }
  }
  return out;
}

void Optimizer::load_state_dict(const nn::StateDict& state) {
  NoGradGuard no_grad;
  StateReader in(state, name_ + ": load_state_dict");
  std::vector<double> lrs(groups_.size(), 0.0);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string name = group_lr_name(g);
    if (const auto lr = in.f64(name)) {
      lrs[g] = *lr;
      if (!(*lr >= 0.0)) in.add_problem("'" + name + "' holds the invalid learning rate " + nn::number_text(*lr));
    }
  }
  std::vector<ParamState> loaded(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    ParamState& s = loaded[i];
    s.tensors.resize(state_names_.size());
    const std::string step_name = state_name(i, "step");
    const auto step = in.i64(step_name);
    if (step && *step < 0) in.add_problem("'" + step_name + "' holds the negative step " + std::to_string(*step));
    s.step = step.value_or(0);
    const bool has_tensors = state_is_eager_ || s.step > 0;
    for (std::size_t k = 0; k < state_names_.size(); ++k) {
      const std::string name = state_name(i, state_names_[k]);
      if (!step) {
        in.skip(name);  // without a step count, which tensors belong is unknown
      } else if (!has_tensors) {
        in.expect_absent(name, "'" + step_name + "' is 0 and " + name_ + " creates it at a parameter's first step");
      } else if (const Tensor* t = in.tensor_like(name, params_[i])) {
        s.tensors[k] = owned_copy_on(*t, params_[i].device());
      }
    }
  }
  in.finish();
  for (std::size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = lrs[g];
  state_ = std::move(loaded);
}

Tensor zeros_like(const Tensor& p) { return Tensor::zeros(p.shape(), p.dtype(), p.device()); }

}  // namespace kiln::optim
