// GEMM on the CPU. f32/bf16/f16 go to oneDNN's matmul (AVX-512 and AMX
// kernels; chosen by the side-by-side benchmark in BENCHMARKS.md); f64, used
// only for gradient checks, has a plain blocked loop.
//
// The fully-connected layer's GEMM hands its bias (and, for inference, its
// GELU) to oneDNN as part of the primitive, so the output is written once
// instead of being re-read by a separate add.
//
// oneDNN primitives are costly to create (tens of microseconds to milliseconds:
// they JIT-compile), so they are cached by every property that shapes them. The
// cache is bounded (least recently used out): a run that sees ever new shapes —
// variable-length inference — must not grow it without end.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <list>
#include <map>
#include <mutex>
#include <tuple>

#include "kiln/backend/cpu/gemv_cpu.h"
#include "kiln/backend/cpu/register.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

dnnl::memory::data_type dnnl_type(DType t) {
  switch (t) {
    case DType::f32: return dnnl::memory::data_type::f32;
    case DType::bf16: return dnnl::memory::data_type::bf16;
    case DType::f16: return dnnl::memory::data_type::f16;
    default: throw Error(std::string("matmul: oneDNN has no ") + dtype_name(t) + " GEMM");
  }
}

// [batch, rows, cols] with its strides; batch 1 when broadcast (stride 0).
dnnl::memory::desc describe(const Tensor& t) {
  const bool broadcast = t.strides()[0] == 0 && t.shape()[0] > 1;
  const dnnl::memory::dims dims{broadcast ? 1 : t.shape()[0], t.shape()[1], t.shape()[2]};
  // A single (or broadcast) matrix gets the dense batch stride so oneDNN sees a plain layout.
  const bool single = broadcast || t.shape()[0] == 1;
  const dnnl::memory::dims strides{single ? t.shape()[1] * t.shape()[2] : t.strides()[0], t.strides()[1],
                                   t.strides()[2]};
  return dnnl::memory::desc(dims, dnnl_type(t.dtype()), strides);
}

struct Epilogue {
  bool accumulate = false;
  bool bias = false;
  LinearActivation act = LinearActivation::none;
};

using Key = std::tuple<int, int, std::vector<std::int64_t>, bool, bool, int>;

class DnnlMatmul {
 public:
  static constexpr std::size_t kMaxPrimitives = 256;

  DnnlMatmul() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  // a [b, M, K] · w [b, K, N] (+ bias [1, 1, N]) → out [b, M, N].
  void run(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out, const Epilogue& ep) {
    const auto a_md = describe(a), b_md = describe(b), c_md = describe(out);
    std::vector<std::int64_t> sig;
    for (const Tensor* t : {&a, &b, &out}) {
      sig.insert(sig.end(), t->shape().begin(), t->shape().end());
      sig.insert(sig.end(), t->strides().begin(), t->strides().end());
    }
    const Key key{static_cast<int>(a.dtype()), static_cast<int>(out.dtype()), std::move(sig), ep.accumulate, ep.bias,
                  static_cast<int>(ep.act)};
    const dnnl::memory::desc bias_md =
        ep.bias ? dnnl::memory::desc({1, 1, out.shape()[2]}, dnnl_type(bias.dtype()), dnnl::memory::format_tag::abc)
                : dnnl::memory::desc();
    Cached prim;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      prim = lookup(key, a_md, b_md, bias_md, c_md, ep, a, b);
    }
    dnnl::memory am(a_md, engine_, a.raw_data()), bm(b_md, engine_, b.raw_data()), cm(c_md, engine_, out.raw_data());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (ep.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md, engine_, bias.raw_data()));
    // oneDNN's scratch space comes from kiln's pool (not oneDNN's own malloc),
    // so a training step after the first neither allocates nor page-faults.
    Tensor scratch;
    if (prim.scratchpad.get_size() > 0) {
      scratch = Tensor::empty({static_cast<std::int64_t>(prim.scratchpad.get_size())}, DType::u8, out.device());
      args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(prim.scratchpad, engine_, scratch.raw_data()));
    }
    prim.primitive.execute(stream_, args);
    stream_.wait();
  }

 private:
  struct Cached {
    dnnl::matmul primitive;
    dnnl::memory::desc scratchpad;
  };

  Cached lookup(const Key& key, const dnnl::memory::desc& a_md, const dnnl::memory::desc& b_md,
                      const dnnl::memory::desc& bias_md, const dnnl::memory::desc& c_md, const Epilogue& ep,
                      const Tensor& a, const Tensor& b) {
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
      return it->second->second;
    }
    dnnl::primitive_attr attr;
    dnnl::post_ops ops;
    if (ep.accumulate) ops.append_sum(1.0F);
    if (ep.act == LinearActivation::gelu_tanh) ops.append_eltwise(1.0F, dnnl::algorithm::eltwise_gelu_tanh, 0.0F, 0.0F);
    if (ep.act == LinearActivation::gelu_erf) ops.append_eltwise(1.0F, dnnl::algorithm::eltwise_gelu_erf, 0.0F, 0.0F);
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    Cached prim;
    try {
      const dnnl::matmul::desc desc = ep.bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md)
                                              : dnnl::matmul::desc(a_md, b_md, c_md);
      const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
      prim = Cached{dnnl::matmul(pd), pd.scratchpad_desc()};
    } catch (const dnnl::error& e) {
      throw Error(std::string("matmul: oneDNN cannot run ") + dtype_name(a.dtype()) + " GEMM " + a.str() + " · " +
                  b.str() + " on this CPU: " + e.what());
    }
    lru_.emplace_front(key, prim);
    index_[key] = lru_.begin();
    if (lru_.size() > kMaxPrimitives) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return prim;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::mutex mutex_;
  std::list<std::pair<Key, Cached>> lru_;
  std::map<Key, std::list<std::pair<Key, Cached>>::iterator> index_;
};

DnnlMatmul& dnnl_matmul() {
  static auto* m = new DnnlMatmul();  // never destroyed: avoids exit-order issues with oneDNN's globals
  return *m;
}

void zero_unless_accumulating(const Tensor& out, bool accumulate) {
  if (accumulate) return;
  Tensor o = out;
  fill_kernels().get(out.device(), out.dtype())(o, 0.0);
}

void matmul_dnnl(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  if (a.numel() == 0 || b.numel() == 0) return zero_unless_accumulating(out, accumulate);
  dnnl_matmul().run(a, b, Tensor(), out, {.accumulate = accumulate});
}

void linear_dnnl(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act, const Tensor& out) {
  if (out.numel() == 0) return;  // (the op handles K = 0 itself)
  if (try_linear_gemv(x, w, bias, act, out)) return;  // decoding: 1-4 rows, bound by reading w
  // w [N, K] read as [K, N] through its strides: no transposed copy.
  dnnl_matmul().run(x.unsqueeze(0), w.t().unsqueeze(0), bias, out.unsqueeze(0),
                    {.bias = bias.defined(), .act = act});
}

// out[b] (+)= a[b]·b[b] in f64, blocked over k so rows of b stream through cache.
void matmul_f64(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  const std::int64_t nb = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  const double* A = a.data<double>();
  const double* B = b.data<double>();
  double* C = out.data<double>();
  const auto as = a.strides(), bs = b.strides();
  parallel_for(0, nb * M, 16, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t t = lo; t < hi; ++t) {
      const std::int64_t bi = t / M, i = t % M;
      double* c = C + (bi * M + i) * N;
      if (!accumulate) std::fill(c, c + N, 0.0);
      for (std::int64_t k = 0; k < K; ++k) {
        const double av = A[bi * as[0] + i * as[1] + k * as[2]];
        const double* brow = B + bi * bs[0] + k * bs[1];
        for (std::int64_t j = 0; j < N; ++j) c[j] += av * brow[j * bs[2]];
      }
    }
  });
}

double gelu_f64(double z, LinearActivation act) {
  if (act == LinearActivation::gelu_erf) return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
  const double c = std::sqrt(2.0 / M_PI);
  return 0.5 * z * (1.0 + std::tanh(c * (z + 0.044715 * z * z * z)));
}

void linear_f64(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act, const Tensor& out) {
  matmul_f64(x.unsqueeze(0), w.t().unsqueeze(0), out.unsqueeze(0), false);
  const std::int64_t M = out.shape()[0], N = out.shape()[1];
  double* o = out.data<double>();
  const double* bp = bias.defined() ? bias.data<double>() : nullptr;
  const std::int64_t bs = bias.defined() ? bias.strides()[0] : 0;
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      double v = o[i * N + j] + (bp != nullptr ? bp[j * bs] : 0.0);
      o[i * N + j] = act == LinearActivation::none ? v : gelu_f64(v, act);
    }
  }
}

}  // namespace

void register_matmul_kernels() {
  matmul_kernels().set_many(DeviceKind::cpu, &matmul_dnnl, DType::f32, DType::bf16, DType::f16);
  matmul_kernels().set(DeviceKind::cpu, DType::f64, &matmul_f64);
  linear_kernels().set_many(DeviceKind::cpu, &linear_dnnl, DType::f32, DType::bf16, DType::f16);
  linear_kernels().set(DeviceKind::cpu, DType::f64, &linear_f64);
}

}  // namespace kiln::cpu
