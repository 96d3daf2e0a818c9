// clip_grad_norm_ (one device accumulator, torch's coefficient and
// non-finite behaviour) and clip_grad_value_.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "kiln/optim/clip_grad.h"
#include "kiln/optim/fused_updates.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

using testing::make_param;
using testing::same_values;
using testing::ThreadCountGuard;

Tensor with_grad(const Tensor& p, const Tensor& g) {
  Tensor h = p;
  h.set_grad(g);
  return h;
}

double sum_of_squares(const std::vector<Tensor>& ts) {
  double s = 0;
  for (const Tensor& t : ts) {
    for (const double v : t.to_vector<double>()) s += v * v;
  }
  return s;
}

TEST(ClipGradNorm, ScalesEveryGradientByTorchsCoefficient) {
  const Tensor a = make_param({4, 5}, 1), b = make_param({300000}, 2, DType::f32), c = make_param({3}, 3);
  const Tensor ga = make_param({4, 5}, 4).detach(), gb = make_param({300000}, 5, DType::f32).detach();
  with_grad(a, ga.clone());
  with_grad(b, gb.clone());  // c has no gradient: ignored
  const double expected_total = std::sqrt(sum_of_squares({ga, gb}));
  const double total = clip_grad_norm_({a, b, c}, 10.0);
  EXPECT_NEAR(total, expected_total, 1e-12 * expected_total);
  const double coef = 10.0 / (total + 1e-6);
  ASSERT_LT(coef, 1.0);
  EXPECT_TRUE(same_values(a.grad(), mul(ga, coef)));
  EXPECT_TRUE(same_values(b.grad(), mul(gb, coef)));
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGradNorm, LeavesSmallGradientsUntouched) {
  const Tensor a = make_param({10}, 1);
  const Tensor g = make_param({10}, 2).detach();
  with_grad(a, g.clone());
  const double total = clip_grad_norm_({a}, 1e6);
  EXPECT_NEAR(total, std::sqrt(sum_of_squares({g})), 1e-12);
  EXPECT_TRUE(same_values(a.grad(), g));
  EXPECT_EQ(clip_grad_norm_({make_param({2}, 3)}, 1.0), 0.0);  // no gradients at all
}

TEST(ClipGradNorm, TotalDoesNotDependOnTheThreadCount) {
  ThreadCountGuard guard;
  const Tensor a = make_param({1 << 20}, 1, DType::f32);
  with_grad(a, make_param({1 << 20}, 2, DType::f32).detach());
  double first = 0;
  for (const int threads : {1, 2, 3, 4}) {
    set_num_threads(threads);
    const double total = clip_grad_norm_({a}, 1e9);
    if (threads == 1) first = total;
    EXPECT_EQ(total, first) << threads << " threads";
  }
}

TEST(ClipGradNorm, NonFiniteTotalErrorsOnRequestElseSpreadsLikeTorch) {
  const Tensor a = make_param({3}, 1), b = make_param({2}, 2);
  const auto set = [&] {
    with_grad(a, Tensor::from_vector<double>({1.0, std::numeric_limits<double>::quiet_NaN(), 2.0}, {3}));
    with_grad(b, Tensor::from_vector<double>({3.0, 4.0}, {2}));
  };
  set();
  try {
    clip_grad_norm_({a, b}, 1.0, {.error_if_nonfinite = true});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip_grad_norm_: the total norm of the gradients is "),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{3.0, 4.0}));  // untouched by the error
  set();
  EXPECT_TRUE(std::isnan(clip_grad_norm_({a, b}, 1.0)));
  for (const double v : b.grad().to_vector<double>()) EXPECT_TRUE(std::isnan(v));  // torch multiplies by NaN too
}

TEST(ClipGradNorm, RejectsANegativeMaxNorm) {
  EXPECT_THROW(clip_grad_norm_({make_param({2}, 1)}, -1.0), Error);
}

TEST(SumSquares, AddsIntoTheAccumulator) {
  const Tensor acc = Tensor::scalar(1.5, DType::f64);
  sum_squares_accumulate_(Tensor::from_vector<float>({1, -2, 3}, {3}), acc);
  sum_squares_accumulate_(Tensor::from_vector<double>({0.5, 0.5}, {2}).reshape({1, 2}).t(), acc);
  EXPECT_EQ(acc.item(), 1.5 + 14.0 + 0.5);
  EXPECT_THROW(sum_squares_accumulate_(Tensor::ones({2}), Tensor::scalar(0.0, DType::f32)), Error);
  EXPECT_THROW(sum_squares_accumulate_(Tensor::ones({2}, DType::i64), acc), Error);
}

TEST(ClipGradValue, ClampsInPlaceAndKeepsNaN) {
  const Tensor a = make_param({5}, 1, DType::f32), b = make_param({2}, 2);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  with_grad(a, Tensor::from_vector<float>({-3.0F, -0.5F, 0.25F, 7.0F, static_cast<float>(nan)}, {5}));
  clip_grad_value_({a, b}, 1.0);  // b has no gradient: ignored
  const std::vector<float> g = a.grad().to_vector<float>();
  EXPECT_EQ(std::vector<float>(g.begin(), g.begin() + 4), (std::vector<float>{-1.0F, -0.5F, 0.25F, 1.0F}));
  EXPECT_TRUE(std::isnan(g[4]));
  EXPECT_THROW(clip_grad_value_({a}, -1.0), Error);
}

}  // namespace
}  // namespace kiln::optim
