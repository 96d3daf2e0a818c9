// Reductions over axes. The kernel reduces one block of adjacent axes of a
// contiguous tensor viewed as [outer, n, inner]; several blocks are reduced in turn.
#include <algorithm>
#include <set>

#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {

std::vector<std::int64_t> normalize_dims(const std::vector<std::int64_t>& dims, std::int64_t ndim, const char* op) {
  std::set<std::int64_t> unique;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < ndim; ++d) unique.insert(d);
  } else {
    for (const std::int64_t d : dims) {
      if (!unique.insert(wrap_dim(d, ndim, op)).second) {
        throw Error(std::string(op) + ": dimension " + std::to_string(d) + " listed twice");
      }
    }
  }
  return {unique.begin(), unique.end()};
}

Shape keepdim_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape s = shape;
  for (const std::int64_t d : dims) s[d] = 1;
  return s;
}

Shape reduced_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape s;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(shape.size()); ++i) {
    if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(shape[i]);
  }
  return s;
}

// Reduces (no autograd) over sorted `dims`, keeping them as size-1 dims.
Tensor reduce_keepdim(ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& dims, const char* name) {
  if (x.numel() == 0 && op != ReduceOp::sum) {
    throw Error(std::string(name) + ": cannot reduce empty tensor " + x.str());
  }
  Tensor cur = x.contiguous();
  // Walk blocks of adjacent reduced dims from the last one backwards.
  std::size_t i = dims.size();
  while (i > 0) {
    std::size_t j = i - 1;
    while (j > 0 && dims[j - 1] == dims[j] - 1) --j;
    const std::int64_t first = dims[j], last = dims[i - 1];
    std::int64_t outer = 1, n = 1, inner = 1;
    for (std::int64_t d = 0; d < cur.dim(); ++d) {
      (d < first ? outer : d <= last ? n : inner) *= cur.shape()[d];
    }
    Shape out_shape = cur.shape();
    for (std::int64_t d = first; d <= last; ++d) out_shape[d] = 1;
    Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
    reduce_kernels().get(x.device(), x.dtype())(op, cur.view({outer, n, inner}), out.view({outer, inner}));
    cur = out;
    i = j;
  }
  return cur;
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<std::int64_t> dims, bool keepdim) {
  const auto d = normalize_dims(dims, x.dim(), "sum");
  Tensor out;
  {
    NoGradGuard guard;
    out = reduce_keepdim(ReduceOp::sum, x, d, "sum");
    if (!keepdim) out = out.view(reduced_shape(x.shape(), d));
  }
  const Shape in_shape = x.shape(), kd = keepdim_shape(x.shape(), d);
  return record(out, "sum", {x}, [in_shape, kd](const Tensor& g) {
    return std::vector<Tensor>{expand(reshape(g, kd), in_shape)};
  });
}

Tensor mean(const Tensor& x, std::vector<std::int64_t> dims, bool keepdim) {
  const auto d = normalize_dims(dims, x.dim(), "mean");
  std::int64_t count = 1;
  for (const std::int64_t i : d) count *= x.shape()[i];
  if (count == 0) throw Error("mean: reducing over zero elements of " + x.str());
  return div(sum(x, d, keepdim), static_cast<double>(count));
}

namespace {
Tensor extreme(ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim, const char* name) {
  const auto d = normalize_dims(dims, x.dim(), name);
  Tensor kept;
  {
    NoGradGuard guard;
    kept = reduce_keepdim(op, x, d, name);
  }
  Tensor out = keepdim ? kept : kept.view(reduced_shape(x.shape(), d));
  const Tensor xd = x.detach(), kd = kept.detach();
  return record(out, name, {x}, [xd, kd, d](const Tensor& g) {
    const Tensor hit = cast(eq(xd, kd), g.dtype());
    const Tensor count = sum(hit, d, true);
    return std::vector<Tensor>{mul(div(reshape(g, kd.shape()), count), hit)};
  });
}
}  // namespace

Tensor max(const Tensor& x, std::vector<std::int64_t> dims, bool keepdim) {
  return extreme(ReduceOp::max, x, dims, keepdim, "max");
}
Tensor min(const Tensor& x, std::vector<std::int64_t> dims, bool keepdim) {
  return extreme(ReduceOp::min, x, dims, keepdim, "min");
}

Tensor var(const Tensor& x, std::vector<std::int64_t> dims, bool unbiased, bool keepdim) {
  const auto d = normalize_dims(dims, x.dim(), "var");
  std::int64_t count = 1;
  for (const std::int64_t i : d) count *= x.shape()[i];
  const std::int64_t denom = unbiased ? count - 1 : count;
  if (denom <= 0) throw Error("var: not enough elements (" + std::to_string(count) + ") in " + x.str());
  const Tensor centered = sub(x, mean(x, d, true));
  return div(sum(square(centered), d, keepdim), static_cast<double>(denom));
}

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  const std::int64_t d = wrap_dim(dim, x.dim(), "argmax");
  if (x.shape().empty() || x.shape()[d] == 0) throw Error("argmax: empty dimension in " + x.str());
  const Tensor c = x.contiguous();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.shape()[i];
    if (i > d) inner *= x.shape()[i];
  }
  Shape kd = x.shape();
  kd[d] = 1;
  Tensor out = Tensor::empty(kd, DType::i64, x.device());
  argmax_kernels().get(x.device(), x.dtype())(c.detach().view({outer, x.shape()[d], inner}), out.view({outer, inner}));
  return keepdim ? out : out.squeeze(d);
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::int64_t lead = g.dim() - static_cast<std::int64_t>(shape.size());
  if (lead < 0) throw Error("sum_to: cannot reduce " + g.str() + " to larger shape " + shape_str(shape));
  std::vector<std::int64_t> dims;
  for (std::int64_t i = 0; i < g.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  }
  Tensor s = dims.empty() ? g : sum(g, dims, true);
  return reshape(s, shape);
}

}  // namespace kiln
