// Views share storage with their input; only shape, strides and offset change.
#include <algorithm>
#include <numeric>
#include <optional>

#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {

Tensor make_view(const Tensor& x, Shape shape, Shape strides, std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

// Resolves a single -1 and checks the element count matches.
Shape infer_shape(const Shape& requested, std::int64_t numel, const char* op, const Tensor& x) {
  Shape s = requested;
  std::int64_t known = 1;
  std::optional<std::size_t> infer;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer) throw Error(std::string(op) + ": only one dimension can be -1 in " + shape_str(requested));
      infer = i;
    } else if (s[i] < 0) {
      throw Error(std::string(op) + ": invalid dimension " + std::to_string(s[i]) + " in " + shape_str(requested));
    } else {
      known *= s[i];
    }
  }
  if (infer) {
    if (known == 0 || numel % known != 0) {
      throw Error(std::string(op) + ": cannot reshape " + x.str() + " into " + shape_str(requested));
    }
    s[*infer] = numel / known;
  } else if (known != numel) {
    throw Error(std::string(op) + ": cannot reshape " + x.str() + " (" + std::to_string(numel) +
                " elements) into " + shape_str(requested));
  }
  return s;
}

// Strides for viewing x as `shape` without copying, if the memory layout allows.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  if (old_shape.empty()) return Shape(shape.size(), 1);
  const std::int64_t numel = shape_numel(old_shape);
  if (numel == 0) return contiguous_strides(shape);
  Shape out(shape.size(), 1);
  std::int64_t view_d = static_cast<std::int64_t>(shape.size()) - 1;
  std::int64_t chunk_base_stride = old_strides.back();
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor view(const Tensor& x, const Shape& shape) {
  const Shape s = infer_shape(shape, x.numel(), "view", x);
  const auto st = view_strides(x.shape(), x.strides(), s);
  if (!st) {
    throw Error("view: " + x.str() + " with strides " + shape_str(x.strides()) + " cannot be viewed as " +
                shape_str(s) + " without a copy; use reshape");
  }
  const Shape in_shape = x.shape();
  return record(make_view(x, s, *st, x.offset()), "view", {x},
                [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  const Shape s = infer_shape(shape, x.numel(), "reshape", x);
  if (view_strides(x.shape(), x.strides(), s)) return view(x, s);
  return view(contiguous(x), s);
}

Tensor permute(const Tensor& x, const Shape& order) {
  const std::int64_t n = x.dim();
  if (static_cast<std::int64_t>(order.size()) != n) {
    throw Error("permute: order " + shape_str(order) + " does not match " + x.str());
  }
  Shape shape(n), strides(n), inverse(n);
  std::vector<bool> used(n, false);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t d = wrap_dim(order[i], n, "permute");
    if (used[d]) throw Error("permute: dimension repeated in order " + shape_str(order));
    used[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
    inverse[d] = i;
  }
  return record(make_view(x, shape, strides, x.offset()), "permute", {x},
                [inverse](const Tensor& g) { return std::vector<Tensor>{permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, std::int64_t a, std::int64_t b) {
  const std::int64_t n = x.dim();
  Shape order(n);
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(a, n, "transpose")], order[wrap_dim(b, n, "transpose")]);
  return permute(x, order);
}

Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  const std::int64_t d = wrap_dim(dim, x.dim(), "slice");
  if (step <= 0) throw Error("slice: step must be positive, got " + std::to_string(step));
  const std::int64_t size = x.shape()[d];
  auto clampi = [size](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + size : i, 0, size); };
  const std::int64_t s = clampi(start);
  const std::int64_t e = std::max(s, clampi(end));
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (e - s + step - 1) / step;
  strides[d] *= step;
  const std::int64_t offset = x.offset() + s * x.strides()[d];
  const Shape in_shape = x.shape();
  const DType dt = x.dtype();
  return record(make_view(x, shape, strides, offset), "slice", {x}, [=](const Tensor& g) {
    Tensor gx = Tensor::zeros(in_shape, dt, g.device());
    Tensor window = slice(gx, d, s, e, step);
    copy_(window, g);
    return std::vector<Tensor>{gx};
  });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const std::size_t n = shape.size();
  if (n < x.shape().size()) throw Error("expand: cannot expand " + x.str() + " to fewer dims " + shape_str(shape));
  Shape strides(n, 0), out(shape);
  const std::size_t lead = n - x.shape().size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i < lead) {
      if (shape[i] < 0) throw Error("expand: -1 not allowed for new leading dim in " + shape_str(shape));
      continue;
    }
    const std::int64_t have = x.shape()[i - lead];
    const std::int64_t want = shape[i] == -1 ? have : shape[i];
    out[i] = want;
    if (have == want) {
      strides[i] = x.strides()[i - lead];
    } else if (have != 1) {
      throw Error("expand: cannot expand " + x.str() + " to " + shape_str(shape) + " (dim " + std::to_string(i) +
                  " is " + std::to_string(have) + ", not 1)");
    }
  }
  if (out == x.shape()) return x;
  const Shape in_shape = x.shape();
  return record(make_view(x, out, strides, x.offset()), "expand", {x},
                [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
}

Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  const std::int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const std::int64_t st = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, st);
  const Shape in_shape = x.shape();
  return record(make_view(x, shape, strides, x.offset()), "unsqueeze", {x},
                [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
}

Tensor squeeze(const Tensor& x, std::int64_t dim) {
  const std::int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.shape()[d] != 1) return x;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  const Shape in_shape = x.shape();
  return record(make_view(x, shape, strides, x.offset()), "squeeze", {x},
                [in_shape](const Tensor& g) { return std::vector<Tensor>{reshape(g, in_shape)}; });
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_kernels().get(x.device(), x.dtype())(x, out);
  return record(out, "contiguous", {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_kernels().get(x.device(), dtype)(x, out);
  if (!is_floating(dtype) || !is_floating(x.dtype())) return out;
  const DType from = x.dtype();
  return record(out, "cast", {x}, [from](const Tensor& g) { return std::vector<Tensor>{cast(g, from)}; });
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  const Tensor src = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
  const Device via = device.kind != DeviceKind::cpu ? device : src.device();
  backend_for(via.kind).copy(out.raw_data(), device, src.raw_data(), src.device(), src.nbytes());
  const Device from = x.device();
  return record(out, "to_device", {x}, [from](const Tensor& g) { return std::vector<Tensor>{to_device(g, from)}; });
}

}  // namespace kiln
