#include "kiln/nn/module.h"

#include <algorithm>

#include "kiln/ops/ops.h"
#include "kiln/text/escape.h"

namespace kiln::nn {

std::string Module::type_name() const {
  const std::string n = name();
  return n.substr(0, n.find('('));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_params("", recurse, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", recurse, false, out);
  return out;
}

std::int64_t Module::num_parameters(bool trainable_only) const {
  std::int64_t n = 0;
  for (const Tensor& p : parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

void Module::collect_params(const std::string& prefix, bool recurse,
                            std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect_params(prefix + name + ".", true, out);
}

void Module::collect_buffers(const std::string& prefix, bool recurse, bool persistent_only,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const BufferEntry& b : buffers_) {
    if (!persistent_only || b.persistent) out.emplace_back(prefix + b.name, b.value);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", true, persistent_only, out);
}

void Module::for_each_module(const std::function<void(const std::string&, const Module&)>& fn) const {
  // Iterative walk with explicit paths keeps deep models off the call stack's budget.
  std::vector<std::pair<std::string, const Module*>> stack{{"", this}};
  while (!stack.empty()) {
    const auto [path, m] = stack.back();
    stack.pop_back();
    fn(path, *m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it) {
      stack.emplace_back(path.empty() ? it->first : path + "." + it->first, it->second.get());
    }
  }
}

StateDict Module::state_dict() const {
  // Parameters and buffers of each module together, in registration order per
  // module, as torch orders its state_dict.
  StateDict out;
  for_each_module([&](const std::string& path, const Module& m) {
    const std::string prefix = path.empty() ? "" : path + ".";
    for (const auto& [name, p] : m.params_) out.add(prefix + name, p);
    for (const BufferEntry& b : m.buffers_) {
      if (b.persistent) out.add(prefix + b.name, b.value);
    }
  });
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict mine = state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, target] : mine) {
    const Tensor* src = state.find(name);
    if (src == nullptr) {
      missing.push_back(name);
    } else if (src->shape() != target.shape() || src->dtype() != target.dtype()) {
      mismatched.push_back(text::escape_for_terminal(name) + " (expected " + target.str() + ", got " + src->str() + ")");
    }
  }
  for (const auto& [name, t] : state) {
    // Names from a file reach the terminal: escaped.
    if (!mine.contains(name)) unexpected.push_back(text::escape_for_terminal(name));
  }
  const auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  std::string problems;
  if (!mismatched.empty()) problems += "\n  shape or dtype differs: " + list(mismatched);
  if (strict && !missing.empty()) problems += "\n  missing: " + list(missing);
  if (strict && !unexpected.empty()) problems += "\n  unexpected: " + list(unexpected);
  if (!problems.empty()) throw Error("load_state_dict into " + type_name() + ":" + problems);

  NoGradGuard no_grad;
  for (const auto& [name, target] : mine) {
    const Tensor* src = state.find(name);
    if (src == nullptr) continue;
    Tensor dst = target;
    if (dst.storage() == src->storage() && dst.offset() == src->offset()) continue;  // loading its own state
    copy_(dst, *src);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::set_trainable(bool on) {
  for (Tensor& p : parameters()) {
    p.set_requires_grad(on);
    if (!on) p.zero_grad();
  }
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

void Module::to_dtype_(DType dtype) {
  if (!is_floating(dtype)) throw Error(name() + ": to_dtype_ needs a floating dtype, got " + dtype_name(dtype));
  auto convert = [dtype](const Tensor& t) {
    if (t.dtype() == dtype || !is_floating(t.dtype())) return;
    NoGradGuard no_grad;
    const Tensor c = t.to(dtype).contiguous();
    // Every handle shares this impl, so layers and optimizers see the new data.
    TensorImpl& impl = t.impl();
    impl.storage = c.storage();
    impl.offset = c.offset();
    impl.strides = c.strides();
    impl.dtype = dtype;
    impl.grad.reset();
  };
  for (const auto& [n, p] : named_parameters()) convert(p);
  for (const auto& [n, b] : named_buffers()) convert(b);
}

void Module::check_new_name(const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos) {
    throw Error(this->name() + ": member name '" + name + "' must be non-empty and contain no '.'");
  }
  const bool taken = std::any_of(params_.begin(), params_.end(), [&](const auto& e) { return e.first == name; }) ||
                     std::any_of(buffers_.begin(), buffers_.end(), [&](const auto& e) { return e.name == name; }) ||
                     std::any_of(children_.begin(), children_.end(), [&](const auto& e) { return e.first == name; });
  if (taken) throw Error(this->name() + ": a member named '" + name + "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  if (!value.defined()) throw Error(this->name() + ": parameter '" + name + "' is undefined");
  if (!value.is_leaf()) throw Error(this->name() + ": parameter '" + name + "' must be a leaf tensor (detach it)");
  value.set_requires_grad(true);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name);
  if (!value.defined()) throw Error(this->name() + ": buffer '" + name + "' is undefined");
  buffers_.push_back({name, value, persistent});
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  if (!module) throw Error(this->name() + ": child module '" + name + "' is null");
  children_.emplace_back(name, std::move(module));
}

void Module::record_call(const std::vector<Shape>& output_shapes) const {
  if (CallRecorder* r = CallRecorder::active()) r->add(this, output_shapes);
}

// ---- Layer -------------------------------------------------------------------

Tensor Layer::forward(const Tensor& x, const Tensor& /*mask*/) { return forward(x); }

Tensor Layer::compute_mask(const Tensor& /*x*/, const Tensor& mask) const { return mask; }

Tensor Layer::operator()(const Tensor& x) {
  Tensor y = forward(x);
  record_call({y.shape()});
  return y;
}

Tensor Layer::operator()(const Tensor& x, const Tensor& mask) {
  Tensor y = mask.defined() ? forward(x, mask) : forward(x);
  record_call({y.shape()});
  return y;
}

// ---- CallRecorder --------------------------------------------------------------

namespace {
thread_local CallRecorder* t_active_recorder = nullptr;
}

CallRecorder::CallRecorder() : previous_(t_active_recorder) { t_active_recorder = this; }
CallRecorder::~CallRecorder() { t_active_recorder = previous_; }
CallRecorder* CallRecorder::active() { return t_active_recorder; }

}  // namespace kiln::nn
