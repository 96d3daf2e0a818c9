// The exact (erf) GELU in f32 runs on kiln's own vectorisable erf; against
// f64 (the C library's erf) over a dense range, in value and derivative.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kiln/ops/ops.h"

namespace kiln {
namespace {

TEST(GeluErf, F32MatchesF64OverADenseRange) {
  std::vector<double> xs;
  for (double x = -12.0; x <= 12.0; x += 1.0 / 1024.0) xs.push_back(x);
  for (const double x : {1e-30, -1e-30, 1e-8, -1e-8, 0.0, 40.0, -40.0}) xs.push_back(x);
  const auto n = static_cast<std::int64_t>(xs.size());
  const Tensor x64 = Tensor::from_vector(xs, {n});
  Tensor x32 = x64.to(DType::f32).set_requires_grad();
  Tensor x64g = x64.clone().set_requires_grad();
  const Tensor y32 = gelu(x32, false), y64 = gelu(x64g, false);
  sum(y32).backward();
  sum(y64).backward();
  const auto a = y32.to_vector<double>(), b = y64.to_vector<double>();
  const auto ga = x32.grad().to_vector<double>(), gb = x64g.grad().to_vector<double>();
  for (std::int64_t i = 0; i < n; ++i) {
    const double tol = 1e-6 * std::max(1.0, std::abs(xs[i]));
    ASSERT_NEAR(a[i], b[i], tol) << "gelu(" << xs[i] << ")";
    ASSERT_NEAR(ga[i], gb[i], 2e-6 * std::max(1.0, std::abs(xs[i]))) << "gelu'(" << xs[i] << ")";
  }
}

TEST(GeluErf, InfinitiesAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  const auto y = gelu(Tensor::from_vector(std::vector<float>{inf, -inf, std::nanf("")}, {3}), false).to_vector<float>();
  EXPECT_EQ(y[0], inf);
  EXPECT_TRUE(y[1] == 0.0F || std::isnan(y[1]));  // -inf · 0: torch gives nan as well
  EXPECT_TRUE(std::isnan(y[2]));
}

}  // namespace
}  // namespace kiln
