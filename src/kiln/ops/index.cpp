// Joining (concat, stack), splitting into views (split, chunk) and integer
// indexing (index_select, gather) with their gradients.
#include <string>

#include "kiln/ops/index_util.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/op_checks.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace detail {

Tensor index_as_i64(const Tensor& index, const char* op) {
  if (!index.defined()) throw Error(std::string(op) + ": index is undefined");
  if (index.dtype() == DType::i64) return index;
  if (index.dtype() == DType::i32) {
    NoGradGuard guard;
    return cast(index, DType::i64);
  }
  throw Error(std::string(op) + ": index must be i64 (or i32), got " + index.str());
}

std::optional<std::int64_t> find_out_of_range(const Tensor& index, std::int64_t size) {
  if (index.numel() == 0) return std::nullopt;
  NoGradGuard guard;
  // Two reductions instead of a host loop keep this independent of the device.
  const std::int64_t lo = min(index).to_vector<std::int64_t>()[0];
  if (lo < 0) return lo;
  const std::int64_t hi = max(index).to_vector<std::int64_t>()[0];
  if (hi >= size) return hi;
  return std::nullopt;
}

}  // namespace detail

namespace {

using detail::check_same_kind;

// Moving `dim` to the front with one transpose; its own inverse.
Tensor front(const Tensor& x, std::int64_t dim) { return dim == 0 ? x : transpose(x, 0, dim); }

void check_range(const Tensor& idx, const Tensor& x, std::int64_t d, const char* op) {
  if (const auto bad = detail::find_out_of_range(idx, x.shape()[d])) {
    throw Error(std::string(op) + ": index " + std::to_string(*bad) + " is out of range for dimension " +
                std::to_string(d) + " of size " + std::to_string(x.shape()[d]) + " (input " + x.str() + ")");
  }
}

Shape front_shape(Shape s, std::int64_t dim) {
  std::swap(s[0], s[static_cast<std::size_t>(dim)]);
  return s;
}

}  // namespace

// ---- concat / stack ------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, std::int64_t dim) {
  if (xs.empty()) throw Error("concat: expected at least one tensor");
  for (const Tensor& x : xs) {
    if (!x.defined()) throw Error("concat: undefined tensor in the list");
  }
  const Tensor& first = xs[0];
  if (first.dim() == 0) throw Error("concat: cannot concatenate 0-d tensor " + first.str() + "; use stack");
  const std::int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_same_kind(first, x, "concat");
    bool ok = x.dim() == first.dim();
    for (std::int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || x.shape()[k] == first.shape()[k];
    if (!ok) {
      throw Error("concat: tensor " + std::to_string(i) + " has shape " + shape_str(x.shape()) +
                  ", which does not match " + shape_str(first.shape()) + " outside dimension " + std::to_string(d));
    }
    shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::vector<std::int64_t> starts;
  std::int64_t offset = 0;
  {
    NoGradGuard guard;
    for (const Tensor& x : xs) {
      const std::int64_t len = x.shape()[d];
      starts.push_back(offset);
      if (len > 0) {
        Tensor window = slice(out, d, offset, offset + len);
        copy_(window, x.detach());
      }
      offset += len;
    }
  }
  std::vector<std::int64_t> lens;
  for (const Tensor& x : xs) lens.push_back(x.shape()[d]);
  return record(out, "concat", xs, [d, starts, lens](const Tensor& g) {
    std::vector<Tensor> grads;
    grads.reserve(starts.size());
    for (std::size_t i = 0; i < starts.size(); ++i) grads.push_back(slice(g, d, starts[i], starts[i] + lens[i]));
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, std::int64_t dim) {
  if (xs.empty()) throw Error("stack: expected at least one tensor");
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) throw Error("stack: undefined tensor in the list");
    if (xs[i].shape() != xs[0].shape()) {
      throw Error("stack: tensor " + std::to_string(i) + " has shape " + shape_str(xs[i].shape()) +
                  ", expected " + shape_str(xs[0].shape()) + " like tensor 0");
    }
  }
  const std::int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  expanded.reserve(xs.size());
  for (const Tensor& x : xs) expanded.push_back(unsqueeze(x, d));
  return concat(expanded, d);
}

// ---- split / chunk (views) --------------------------------------------------------
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t dim) {
  if (x.dim() == 0) throw Error("split: cannot split 0-d tensor " + x.str());
  const std::int64_t d = wrap_dim(dim, x.dim(), "split");
  std::int64_t total = 0;
  std::string listed;
  for (const std::int64_t s : sizes) {
    if (s < 0) throw Error("split: negative piece size " + std::to_string(s));
    total += s;
    listed += (listed.empty() ? "" : ", ") + std::to_string(s);
  }
  if (total != x.shape()[d]) {
    throw Error("split: sizes [" + listed + "] sum to " + std::to_string(total) + ", but dimension " +
                std::to_string(d) + " of " + x.str() + " has size " + std::to_string(x.shape()[d]));
  }
  std::vector<Tensor> pieces;
  pieces.reserve(sizes.size());
  std::int64_t start = 0;
  for (const std::int64_t s : sizes) {
    pieces.push_back(slice(x, d, start, start + s));
    start += s;
  }
  return pieces;
}

// As torch.chunk: pieces of ceil(size / chunks) along dim, the last one shorter
// when the size does not divide (so fewer than `chunks` pieces can come back).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim) {
  if (chunks <= 0) throw Error("chunk: number of chunks must be positive, got " + std::to_string(chunks));
  if (x.dim() == 0) throw Error("chunk: cannot chunk 0-d tensor " + x.str());
  const std::int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const std::int64_t size = x.shape()[d];
  const std::int64_t piece = (size + chunks - 1) / chunks;
  std::vector<std::int64_t> sizes;
  if (piece == 0) {
    sizes.assign(static_cast<std::size_t>(chunks), 0);  // an empty dim: `chunks` empty views
  } else {
    for (std::int64_t start = 0; start < size; start += piece) sizes.push_back(std::min(piece, size - start));
  }
  return split(x, sizes, d);
}

// ---- index_select ---------------------------------------------------------------
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  if (!x.defined()) throw Error("index_select: input is undefined");
  if (x.dim() == 0) throw Error("index_select: cannot index 0-d tensor " + x.str());
  const std::int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = detail::index_as_i64(index, "index_select");
  if (idx.dim() > 1) throw Error("index_select: index must be 1-d, got " + index.str());
  if (idx.device() != x.device()) {
    throw Error("index_select: index on " + idx.device().str() + ", input " + x.str() + " on " + x.device().str());
  }
  check_range(idx, x, d, "index_select");
  const std::int64_t n = idx.numel();
  Tensor out;
  {
    NoGradGuard guard;
    idx = idx.reshape({n}).contiguous();
    const Tensor table = front(x.detach(), d).contiguous();
    Shape out_shape = table.shape();
    out_shape[0] = n;
    out = Tensor::empty(out_shape, x.dtype(), x.device());
    index_select_kernels().get(x.device(), x.dtype())(table, idx, out);
    if (d != 0) out = front(out, d).contiguous();
  }
  const Shape table_shape = front_shape(x.shape(), d);
  return record(out, "index_select", {x}, [idx, d, table_shape](const Tensor& g) {
    // Only the selected rows receive gradient; repeated indices accumulate.
    const Tensor src = front(g, d).contiguous();
    Tensor table = Tensor::zeros(table_shape, g.dtype(), g.device());
    index_add_kernels().get(g.device(), g.dtype())(table, idx, src);
    return std::vector<Tensor>{front(table, d)};
  });
}

// ---- gather -----------------------------------------------------------------------
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  if (!x.defined()) throw Error("gather: input is undefined");
  if (x.dim() == 0) throw Error("gather: cannot gather from 0-d tensor " + x.str());
  const std::int64_t d = wrap_dim(dim, x.dim(), "gather");
  Tensor idx = detail::index_as_i64(index, "gather");
  if (idx.device() != x.device()) {
    throw Error("gather: index on " + idx.device().str() + ", input " + x.str() + " on " + x.device().str());
  }
  bool ok = idx.dim() == x.dim();
  for (std::int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || idx.shape()[k] <= x.shape()[k];
  if (!ok) {
    throw Error("gather: index " + index.str() + " does not fit input " + x.str() + " along dimension " +
                std::to_string(d) + " (same number of dims, and no larger than the input outside dim " +
                std::to_string(d) + ")");
  }
  check_range(idx, x, d, "gather");
  // torch.gather allows an index smaller than the input outside `dim`: the
  // kernel then reads the matching window of the input.
  Shape window_shape = idx.shape();
  window_shape[d] = x.shape()[d];
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < x.dim(); ++k) {
    if (k < d) outer *= idx.shape()[k];
    if (k > d) inner *= idx.shape()[k];
  }
  const std::int64_t n = x.shape()[d], kk = idx.shape()[d];
  Tensor out = Tensor::empty(idx.shape(), x.dtype(), x.device());
  {
    NoGradGuard guard;
    Tensor window = x.detach();
    for (std::int64_t k = 0; k < x.dim(); ++k) {
      if (k != d && window_shape[k] != x.shape()[k]) window = slice(window, k, 0, window_shape[k]);
    }
    idx = idx.contiguous();
    if (out.numel() > 0) {
      gather_kernels().get(x.device(), x.dtype())(window.contiguous().view({outer, n, inner}),
                                                  idx.view({outer, kk, inner}), out.view({outer, kk, inner}));
    }
  }
  const Shape in_shape = x.shape();
  return record(out, "gather", {x}, [idx, in_shape, window_shape, outer, n, kk, inner](const Tensor& g) {
    Tensor gw = Tensor::zeros(window_shape, g.dtype(), g.device());
    if (g.numel() > 0) {
      scatter_add_kernels().get(g.device(), g.dtype())(gw.view({outer, n, inner}), idx.view({outer, kk, inner}),
                                                       g.contiguous().view({outer, kk, inner}));
    }
    if (window_shape == in_shape) return std::vector<Tensor>{gw};
    Tensor gx = Tensor::zeros(in_shape, g.dtype(), g.device());
    Tensor window = gx;
    for (std::size_t k = 0; k < in_shape.size(); ++k) {
      if (window_shape[k] != in_shape[k]) window = slice(window, static_cast<std::int64_t>(k), 0, window_shape[k]);
    }
    copy_(window, gw);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace kiln
