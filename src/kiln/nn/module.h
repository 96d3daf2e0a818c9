#pragma once
// Module: the base of every layer and model (PyTorch's nn.Module shape).
//
// A module owns named parameters, named buffers and named child modules.
// parameters()/buffers()/state_dict() walk the tree in registration order, so
// optimizers and checkpoints see a stable order and dotted names that match
// PyTorch's ("0.weight", "encoder.bn.running_mean").
//
// Module itself has no forward(): models take and return whatever they need
// (an LSTM returns outputs plus state, a VAE three tensors, a classifier may
// take two inputs). The common one-tensor case is `Layer` below; Sequential
// chains Layers. Every layer keeps its parameters in private members with
// const accessors (`weight()`), so a handle registered here can never be
// swapped for another tensor behind the optimizer's back; load_state_dict()
// copies values into the registered tensors in place.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/tensor.h"
#include "kiln/nn/state_dict.h"

namespace kiln::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Parameters are shared handles: a copied module would silently alias them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Short description with the options, e.g. "Linear(in=784, out=512, bias=true)".
  virtual std::string name() const = 0;
  /// The class name alone ("Linear"): the text before the first '(' of name().
  std::string type_name() const;

  /// All parameters (own first, then children's, in registration order).
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// Parameters with dotted names relative to this module.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  /// Buffers (state that is not trained: BatchNorm running statistics), dotted names.
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  /// Number of elements over all parameters (trainable ones only when asked).
  std::int64_t num_parameters(bool trainable_only = false) const;

  /// Parameters and persistent buffers by dotted name (shares data with the module).
  StateDict state_dict() const;
  /// Copies every entry into the matching registered tensor in place. With
  /// `strict`, the names must match exactly; in any mode a dtype or shape
  /// mismatch is an error. All problems are collected into one Error that
  /// names every offending tensor; nothing is changed unless all entries fit.
  void load_state_dict(const StateDict& state, bool strict = true);

  /// Sets training mode here and in every descendant (affects Dropout, BatchNorm).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Freezes (or unfreezes) every parameter of this module and its descendants:
  /// frozen parameters get no gradient and count as non-trainable in summaries.
  void set_trainable(bool on);

  /// Drops the accumulated gradient of every parameter (PyTorch's set_to_none).
  void zero_grad();
  /// Converts every floating parameter and buffer to `dtype` in place, as
  /// torch's module.double() does; call it before making an optimizer.
  void to_dtype_(DType dtype);

  /// Visits this module and every descendant, depth first, with its dotted path ("" for this one).
  void for_each_module(const std::function<void(const std::string& path, const Module& m)>& fn) const;

 protected:
  /// Marks `value` as requiring grad and records it under `name`; returns the
  /// handle to keep in a private member.
  Tensor register_parameter(const std::string& name, Tensor value);
  /// Records a buffer; persistent buffers are part of state_dict().
  Tensor register_buffer(const std::string& name, Tensor value, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  /// For modules whose forward returns several tensors: tells an active
  /// summary() recorder what this call produced (Layer::operator() does it for one).
  void record_call(const std::vector<Shape>& output_shapes) const;

 private:
  struct BufferEntry {
    std::string name;
    Tensor value;
    bool persistent;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name) const;
  void collect_params(const std::string& prefix, bool recurse,
                      std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_buffers(const std::string& prefix, bool recurse, bool persistent_only,
                       std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<BufferEntry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// One tensor in, one tensor out: the layers Sequential chains.
///
/// Layers may also take a mask the way Keras layers do: Sequential passes the
/// mask produced by the previous layer (Embedding with mask_zero makes one)
/// to forward(x, mask), and asks compute_mask() for the mask of the output.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  /// With a mask ([batch, steps] bool, true = real step). Default: ignores it.
  virtual Tensor forward(const Tensor& x, const Tensor& mask);
  /// The mask of this layer's output for input `x` with `mask`. Default: passes
  /// `mask` through unchanged (layers that change the step axis override it).
  /// `x` may be undefined when a nested Sequential is asked for its mask without
  /// a forward pass; only mask producers (Embedding) read x's values.
  virtual Tensor compute_mask(const Tensor& x, const Tensor& mask) const;

  /// Runs forward(x) and tells an active summary() recorder the output shape.
  Tensor operator()(const Tensor& x);
  Tensor operator()(const Tensor& x, const Tensor& mask);
};

/// Records, while alive on this thread, which modules were called with which
/// output shapes (summary() uses it to learn shapes from one forward pass).
class CallRecorder {
 public:
  struct Call {
    const Module* module;
    std::vector<Shape> output_shapes;
  };
  CallRecorder();
  ~CallRecorder();
  CallRecorder(const CallRecorder&) = delete;
  CallRecorder& operator=(const CallRecorder&) = delete;

  const std::vector<Call>& calls() const { return calls_; }
  /// The recorder active on this thread, or null.
  static CallRecorder* active();
  void add(const Module* module, std::vector<Shape> shapes) { calls_.push_back({module, std::move(shapes)}); }

 private:
  std::vector<Call> calls_;
  CallRecorder* previous_;
};

}  // namespace kiln::nn
