#include "kiln/core/tensor.h"

#include <sstream>

#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (const std::int64_t d : s) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(s));
    if (d != 0 && n > INT64_MAX / d) throw Error("shape " + shape_str(s) + " has too many elements");
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<std::int64_t>(s[i], 1);
  }
  return st;
}

std::int64_t wrap_dim(std::int64_t d, std::int64_t ndim, const char* op) {
  const std::int64_t n = std::max<std::int64_t>(ndim, 1);
  if (d < -n || d >= n) {
    throw Error(std::string(op) + ": dimension " + std::to_string(d) + " out of range for a " +
                std::to_string(ndim) + "-d tensor");
  }
  return d < 0 ? d + n : d;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const std::int64_t n = shape_numel(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(n) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype, std::int64_t offset) {
  const std::int64_t n = shape_numel(shape);
  const std::size_t need = static_cast<std::size_t>(n + offset) * dtype_size(dtype);
  if (offset < 0 || need > storage->nbytes()) {
    throw Error("Tensor::from_storage: " + std::string(dtype_name(dtype)) + shape_str(shape) + " at offset " +
                std::to_string(offset) + " needs " + std::to_string(need) + " bytes, storage has " +
                std::to_string(storage->nbytes()));
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_(t, value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::arange(std::int64_t n, DType dtype, Device device) {
  Tensor host = empty({n}, DType::f64);
  double* p = host.data<double>();
  for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<double>(i);
  return host.to(dtype).to(device);
}

std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + (device().kind == DeviceKind::cpu ? "" : "@" + device().str());
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * static_cast<std::int64_t>(dtype_size(dtype()));
}

double Tensor::item() const {
  if (numel() != 1) throw Error("item: tensor " + str() + " does not hold exactly one element");
  return to_vector<double>()[0];
}

Tensor& Tensor::set_requires_grad(bool on) {
  if (on && !is_floating(dtype())) {
    throw Error("set_requires_grad: only floating-point tensors can require grad, this one is " + str());
  }
  if (!is_leaf()) throw Error("set_requires_grad: tensor " + str() + " is not a leaf; use detach() first");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) { impl().grad = g.defined() ? g.impl_ptr() : nullptr; }
void Tensor::zero_grad() { impl().grad = nullptr; }
void Tensor::retain_grad() { impl().retain_grad = true; }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->offset = this->impl().offset;
  impl->shape = shape();
  impl->strides = strides();
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::contiguous() const { return kiln::contiguous(*this); }
Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_kernels().get(device(), dtype())(*this, out);
  return record(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}
Tensor Tensor::to(DType t) const { return cast(*this, t); }
Tensor Tensor::to(Device d) const { return to_device(*this, d); }
Tensor Tensor::reshape(const Shape& s) const { return kiln::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return kiln::view(*this, s); }
Tensor Tensor::transpose(std::int64_t a, std::int64_t b) const { return kiln::transpose(*this, a, b); }
Tensor Tensor::permute(const Shape& order) const { return kiln::permute(*this, order); }
Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  return kiln::slice(*this, d, start, end, step);
}
Tensor Tensor::expand(const Shape& s) const { return kiln::expand(*this, s); }
Tensor Tensor::unsqueeze(std::int64_t d) const { return kiln::unsqueeze(*this, d); }
Tensor Tensor::squeeze(std::int64_t d) const { return kiln::squeeze(*this, d); }
Tensor Tensor::flatten(std::int64_t start, std::int64_t end) const {
  if (dim() == 0) return reshape({1});
  const std::int64_t s = wrap_dim(start, dim(), "flatten");
  const std::int64_t e = wrap_dim(end, dim(), "flatten");
  Shape out(shape().begin(), shape().begin() + s);
  std::int64_t n = 1;
  for (std::int64_t i = s; i <= e; ++i) n *= shape()[i];
  out.push_back(n);
  out.insert(out.end(), shape().begin() + e + 1, shape().end());
  return reshape(out);
}

}  // namespace kiln
