#pragma once
// Tensor: a typed, strided view of a Storage, plus the autograd bookkeeping.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/dtype.h"
#include "kiln/core/device.h"
#include "kiln/core/error.h"
#include "kiln/core/storage.h"

namespace kiln {

using Shape = std::vector<std::int64_t>;
std::string shape_str(const Shape& s);
std::int64_t shape_numel(const Shape& s);
/// Row-major strides (in elements) for a shape.
Shape contiguous_strides(const Shape& s);

struct Node;
class Tensor;
struct Q8_0Weight;  // ops/q8_0_weight.h

/// Shared state behind a Tensor handle. Strides and offset are in elements.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;
  Shape shape;
  Shape strides;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;    // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;       // how this tensor was made (non-leaf)
  bool retain_grad = false;
  // Autocast's low-precision copy of this tensor (a parameter) and the storage
  // version it was made from (ops/autocast.h owns both; guarded by its mutex).
  std::shared_ptr<TensorImpl> cast_mirror;
  std::uint64_t cast_mirror_version = 0;
  // The q8_0 copy linear() reads under WeightFormatGuard(q8_0), and the storage
  // version it was made from (ops/quantized_weights.h owns both, likewise).
  std::shared_ptr<const Q8_0Weight> q8_0_mirror;
  std::uint64_t q8_0_mirror_version = 0;
};

/// A handle to a tensor (cheap to copy; copies share data like torch.Tensor).
/// Math lives in free functions (kiln/ops/ops.h); the members below are the
/// common ones as methods for readability.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = kCPU);
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = kCPU);
  /// [0, n) as a 1-d tensor.
  static Tensor arange(std::int64_t n, DType dtype = DType::i64, Device device = kCPU);
  /// Copies host values into a new tensor of `shape` (dtype from T unless given).
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  /// Views existing storage.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype,
                             std::int64_t offset = 0);

  // ---- properties ------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  /// Size of dimension `d` (negative counts from the end).
  std::int64_t size(std::int64_t d) const;
  std::int64_t stride(std::int64_t d) const;
  std::int64_t numel() const { return shape_numel(impl().shape); }
  std::int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  std::string str() const;  ///< "f32[2, 3]" for messages

  /// Pointer to the first element; checks T matches dtype and the tensor is on the CPU.
  template <class T>
  T* data() const;
  /// Untyped pointer to the first element (any device).
  void* raw_data() const;
  /// The single value of a one-element tensor, converted to double.
  double item() const;
  /// All values in logical (row-major) order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- autograd --------------------------------------------------------
  bool requires_grad() const { return defined() && impl().requires_grad; }
  /// Marks a leaf as a parameter whose gradient is accumulated by backward().
  Tensor& set_requires_grad(bool on = true);
  /// The accumulated gradient (undefined until a backward pass reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();
  /// Keep the gradient of this non-leaf tensor after backward().
  void retain_grad();
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  /// Back-propagates from this tensor. Without `grad` the tensor must hold one element.
  /// Each node's saved tensors are freed as soon as its backward has run unless
  /// `retain_graph` (as in PyTorch); a second backward through a freed graph throws.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  /// Shares data, cut from the graph.
  Tensor detach() const;

  // ---- views and copies (see ops/view.h for the full set) --------------
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(std::int64_t a, std::int64_t b) const;
  Tensor t() const { return transpose(-2, -1); }
  Tensor permute(const Shape& order) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start = 0, std::int64_t end = -1) const;

  /// Same impl (identity), for graph bookkeeping.
  TensorImpl* id() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorImpl& impl() const {
    if (!impl_) throw Error("use of an undefined tensor");
    return *impl_;
  }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// Normalises a possibly negative dimension index, naming `op` on error.
std::int64_t wrap_dim(std::int64_t d, std::int64_t ndim, const char* op);

// ---- template definitions ------------------------------------------------
template <class T>
T* Tensor::data() const {
  if (dtype() != dtype_v<T>) {
    throw Error(std::string("Tensor::data: tensor is ") + dtype_name(dtype()) + ", asked for " +
                dtype_name(dtype_v<T>));
  }
  if (device().kind != DeviceKind::cpu) throw Error("Tensor::data: tensor is on " + device().str() + ", not cpu");
  return static_cast<T*>(impl().storage->data()) + impl().offset;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape_numel(shape)) {
    throw Error("Tensor::from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                shape_str(shape));
  }
  Tensor t = empty(shape, dtype_v<T>);
  T* p = t.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = to(kCPU).to(dtype_v<T>).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace kiln
