// Reverse-mode traversal of the tape recorded by `record`.
#include <unordered_map>
#include <unordered_set>

#include "kiln/autograd/node.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    node->inputs.push_back(t.defined() && t.requires_grad() ? t.impl_ptr() : nullptr);
  }
  node->input_versions.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (t.defined()) node->input_versions.push_back({t.storage(), t.storage()->version(), t.shape(), t.dtype()});
  }
  node->backward = std::move(backward);
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
  return out;
}

namespace {

void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    // Own the buffer: the incoming gradient may alias another tensor's
    // storage. A fresh dense gradient nobody else holds (a GEMM's output) is
    // adopted as it is, saving a copy of every weight gradient every step.
    const bool sole_owner = g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1;
    const bool dense = g.offset() == 0 && g.is_contiguous() && g.storage()->nbytes() == g.nbytes();
    slot = (sole_owner && dense && !g.grad_fn()) ? g.impl_ptr() : g.clone().impl_ptr();
  } else {
    Tensor acc(slot);
    add_(acc, g);
  }
}

void check_input_versions(const Node& node) {
  for (const Node::InputVersion& in : node.input_versions) {
    const std::shared_ptr<Storage> storage = in.storage.lock();
    if (storage && storage->version() != in.version) {
      throw Error(std::string("backward: an input of '") + node.name + "' (" + shape_str(in.shape) + " " +
                  dtype_name(in.dtype) + ") was modified in place after the op read it (version " +
                  std::to_string(in.version) + ", now " + std::to_string(storage->version()) +
                  "); its gradient would use stale values. Write to a copy (clone) instead, or write after backward");
    }
  }
}

}  // namespace

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  if (!requires_grad()) {
    throw Error("backward: tensor " + str() + " does not require grad (no input was marked requires_grad, "
                "or it was computed under NoGradGuard)");
  }
  Tensor seed = grad;
  if (!seed.defined()) {
    if (numel() != 1) {
      throw Error("backward: called on non-scalar tensor " + str() +
                  " without a gradient; pass a gradient of the same shape or reduce to a scalar first");
    }
    seed = Tensor::ones(shape(), dtype(), device());
  } else if (seed.shape() != shape()) {
    throw Error("backward: gradient shape " + shape_str(seed.shape()) + " does not match tensor shape " +
                shape_str(shape()));
  }

  // Topological order over non-leaf tensors reachable from this one (iterative
  // DFS). `order` owns a reference to each so that freeing a consumer's saved
  // inputs below cannot destroy a tensor that is still waiting for its turn.
  const auto released_error = [](const Node& node) {
    return Error(std::string("backward: the graph through '") + node.name +
                 "' was already used by an earlier backward() and its saved tensors were freed; "
                 "pass retain_graph = true to the first backward() to run backward twice");
  };
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, std::size_t>> stack;
  if (impl().grad_fn) {
    if (impl().grad_fn->released) throw released_error(*impl().grad_fn);
    stack.emplace_back(impl_ptr(), 0);
    seen.insert(id());
  }
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    const auto& ins = t->grad_fn->inputs;
    if (next < ins.size()) {
      const std::shared_ptr<TensorImpl>& in = ins[next++];
      if (in != nullptr && in->grad_fn && seen.insert(in.get()).second) {
        if (in->grad_fn->released) throw released_error(*in->grad_fn);
        stack.emplace_back(in, 0);
      }
    } else {
      order.push_back(std::move(t));
      stack.pop_back();
    }
  }

  NoGradGuard no_grad;
  std::unordered_map<TensorImpl*, Tensor> grads;
  if (!impl().grad_fn) {  // a leaf: backward() on a parameter itself
    accumulate(impl().grad, seed);
    return;
  }
  grads[id()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = it->get();
    auto found = grads.find(t);
    if (found == grads.end()) {
      it->reset();
      continue;
    }
    const Tensor g = found->second;
    grads.erase(found);
    if (t->retain_grad) accumulate(t->grad, g);
    Node& node = *t->grad_fn;
    check_input_versions(node);
    std::vector<Tensor> in_grads = node.backward(g);
    if (in_grads.size() != node.inputs.size()) {
      throw Error(std::string("internal: backward of '") + node.name + "' returned " +
                  std::to_string(in_grads.size()) + " gradients for " + std::to_string(node.inputs.size()) +
                  " inputs");
    }
    for (std::size_t i = 0; i < in_grads.size(); ++i) {
      const auto& in = node.inputs[i];
      if (!in || !in_grads[i].defined()) continue;
      if (in_grads[i].shape() != in->shape) {
        throw Error(std::string("internal: backward of '") + node.name + "' gave gradient " +
                    shape_str(in_grads[i].shape()) + " for input " + shape_str(in->shape));
      }
      if (in->grad_fn) {
        auto [slot, inserted] = grads.try_emplace(in.get(), in_grads[i]);
        if (!inserted) slot->second = add(slot->second, in_grads[i]);
      } else {
        accumulate(in->grad, in_grads[i]);
      }
    }
    if (!retain_graph) {
      // Free what this node saved and its links upstream now, not when the
      // graph dies: activations go back to the pool while backward still runs,
      // and a loss the caller keeps for logging no longer pins the whole graph.
      BackwardFn().swap(node.backward);
      std::vector<std::shared_ptr<TensorImpl>>().swap(node.inputs);
      std::vector<Node::InputVersion>().swap(node.input_versions);
      node.released = true;
    }
    it->reset();  // this tensor's own data, unless the caller still holds it
  }
}

}  // namespace kiln
