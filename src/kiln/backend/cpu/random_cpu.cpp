// Counter-based random fills: element i draws from counter (offset + i), so any
// split of the work across threads yields the same tensor.
#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

template <class T, class Draw>
void fill(T* y, std::int64_t n, Draw draw) {
  parallel_for(0, n, 4096, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) y[i] = draw(i);
  });
}

template <class T>
void random_kernel(const Tensor& out, RandomDist dist, double a, double b, std::uint64_t seed, std::uint64_t offset) {
  T* y = out.data<T>();  // the op layer hands a contiguous tensor
  const auto counter = [offset](std::int64_t i) { return offset + static_cast<std::uint64_t>(i); };
  // One loop per distribution (no switch per element) over the inlined Philox,
  // so the bernoulli loop of every dropout mask vectorises.
  switch (dist) {
    case RandomDist::uniform:
      fill(y, out.numel(), [&](std::int64_t i) {
        return convert<T>(a + (b - a) * static_cast<double>(philox_uniform(seed, counter(i))));
      });
      break;
    case RandomDist::normal:
      fill(y, out.numel(), [&](std::int64_t i) { return convert<T>(a + b * philox_normal(seed, counter(i))); });
      break;
    case RandomDist::bernoulli: {
      const T one = convert<T>(1.0), zero = convert<T>(0.0);
      // u < p in double, exactly as before: u has 24 bits, so comparing in float
      // against p rounded to float could differ for p near a 24-bit step.
      fill(y, out.numel(), [&](std::int64_t i) {
        return static_cast<double>(philox_uniform(seed, counter(i))) < a ? one : zero;
      });
      break;
    }
  }
}

}  // namespace

void register_random_kernels() {
  visit_float_dtypes([](auto t) {
    using T = decltype(t);
    random_kernels().set(DeviceKind::cpu, dtype_v<T>, &random_kernel<T>);
  });
}

}  // namespace kiln::cpu
