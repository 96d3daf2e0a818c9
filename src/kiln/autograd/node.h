#pragma once
// The define-by-run tape: each op that needs gradients records a Node on its output.
#include <functional>
#include <memory>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln {

/// Maps the gradient of an op's output to the gradients of its inputs
/// (one entry per input; an undefined Tensor where no gradient flows).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  const char* name = "";
  /// The op's inputs that take part in differentiation (null where an input
  /// does not require grad). Keeps the graph upstream alive.
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  BackwardFn backward;
  /// The storage version of every defined input when the op ran. backward()
  /// refuses to run the node if one has changed since: an in-place write
  /// (a KV-cache append, an optimizer step) after the op read the tensor would
  /// make the saved values stale. Weak, so the check keeps no memory alive.
  /// Conservative: it also refuses writes to inputs the op did not save.
  struct InputVersion {
    std::weak_ptr<Storage> storage;
    std::uint64_t version = 0;
    Shape shape;
    DType dtype = DType::f32;
  };
  std::vector<InputVersion> input_versions;
  /// Set once backward has run and the saved tensors were freed (retain_graph = false).
  bool released = false;
};

/// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

/// Disables graph recording on this thread for its lifetime (like torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Records `backward` on `out` when grad mode is on and any input requires grad.
/// Op definitions call this last; `inputs` is in the order `backward` returns.
/// Saved tensors captured by `backward` must not include `out` itself (use
/// out.detach()) — that would make a reference cycle.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

/// True when recording would happen for these inputs.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

}  // namespace kiln
