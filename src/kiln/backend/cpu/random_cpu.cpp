// Counter-based random fills: element i draws from counter (offset + i), so any
// split of the work across threads yields the same tensor.
#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

template <class T>
void random_kernel(const Tensor& out, RandomDist dist, double a, double b, std::uint64_t seed, std::uint64_t offset) {
  T* y = out.data<T>();  // the op layer hands a contiguous tensor
  parallel_for(0, out.numel(), 4096, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::uint64_t idx = offset + static_cast<std::uint64_t>(i);
      double v = 0;
      switch (dist) {
        case RandomDist::uniform: v = a + (b - a) * static_cast<double>(philox_uniform(seed, idx)); break;
        case RandomDist::normal: v = a + b * philox_normal(seed, idx); break;
        case RandomDist::bernoulli: v = static_cast<double>(philox_uniform(seed, idx)) < a ? 1.0 : 0.0; break;
      }
      y[i] = convert<T>(v);
    }
  });
}

}  // namespace

void register_random_kernels() {
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    random_kernels().set(DeviceKind::cpu, dtype_v<T>, &random_kernel<T>);
  });
}

}  // namespace kiln::cpu
