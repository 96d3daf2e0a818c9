// GEMM on the CPU. f32/bf16/f16 go to oneDNN's matmul (AVX-512 and AMX
// kernels; chosen by the side-by-side benchmark in BENCHMARKS.md); f64, used
// only for gradient checks, has a plain blocked loop.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

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

using Key = std::tuple<int, std::vector<std::int64_t>, bool>;

class DnnlMatmul {
 public:
  DnnlMatmul() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  void run(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
    const auto a_md = describe(a), b_md = describe(b), c_md = describe(out);
    std::vector<std::int64_t> sig;
    for (const Tensor* t : {&a, &b, &out}) {
      sig.insert(sig.end(), t->shape().begin(), t->shape().end());
      sig.insert(sig.end(), t->strides().begin(), t->strides().end());
    }
    const Key key{static_cast<int>(a.dtype()), sig, accumulate};
    dnnl::matmul* prim = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(key);
      if (it == cache_.end()) {
        dnnl::primitive_attr attr;
        if (accumulate) {
          dnnl::post_ops ops;
          ops.append_sum(1.0F);
          attr.set_post_ops(ops);
        }
        try {
          const dnnl::matmul::desc desc(a_md, b_md, c_md);
          const dnnl::matmul::primitive_desc pd(desc, attr, engine_);
          it = cache_.emplace(key, dnnl::matmul(pd)).first;
        } catch (const dnnl::error& e) {
          throw Error(std::string("matmul: oneDNN cannot run ") + dtype_name(a.dtype()) + " GEMM " + a.str() +
                      " · " + b.str() + " on this CPU: " + e.what());
        }
      }
      prim = &it->second;
    }
    dnnl::memory am(a_md, engine_, a.raw_data()), bm(b_md, engine_, b.raw_data()), cm(c_md, engine_, out.raw_data());
    prim->execute(stream_, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::mutex mutex_;
  std::map<Key, dnnl::matmul> cache_;
};

DnnlMatmul& dnnl_matmul() {
  static auto* m = new DnnlMatmul();  // never destroyed: avoids exit-order issues with oneDNN's globals
  return *m;
}

void matmul_dnnl(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  if (a.numel() == 0 || b.numel() == 0) {
    if (!accumulate) {
      Tensor o = out;
      fill_kernels().get(out.device(), out.dtype())(o, 0.0);
    }
    return;
  }
  dnnl_matmul().run(a, b, out, accumulate);
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

}  // namespace

void register_matmul_kernels() {
  matmul_kernels().set_many(DeviceKind::cpu, &matmul_dnnl, DType::f32, DType::bf16, DType::f16);
  matmul_kernels().set(DeviceKind::cpu, DType::f64, &matmul_f64);
}

}  // namespace kiln::cpu
