#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

constexpr double kTol = 1e-6;

struct UnaryCase {
  const char* name;
  Tensor (*fn)(const Tensor&);
  double lo, hi;
};

class UnaryGrad : public ::testing::TestWithParam<UnaryCase> {};

TEST_P(UnaryGrad, MatchesFiniteDifferences) {
  const UnaryCase c = GetParam();
  Generator gen(7);
  for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
    const Tensor x = make_input({3, 4}, gen, layout, c.lo, c.hi);
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return c.fn(v[0]); }, {x}), kTol)
        << c.name << " layout " << static_cast<int>(layout);
  }
}

Tensor gelu_erf(const Tensor& x) { return gelu(x, false); }
Tensor gelu_tanh(const Tensor& x) { return gelu(x, true); }

INSTANTIATE_TEST_SUITE_P(
    Ops, UnaryGrad,
    ::testing::Values(UnaryCase{"neg", &neg, -2, 2}, UnaryCase{"exp", &exp, -2, 2}, UnaryCase{"log", &log, 0.5, 3},
                      UnaryCase{"sqrt", &sqrt, 0.5, 3}, UnaryCase{"rsqrt", &rsqrt, 0.5, 3},
                      UnaryCase{"abs", &abs, 0.1, 2}, UnaryCase{"tanh", &tanh, -2, 2},
                      UnaryCase{"sigmoid", &sigmoid, -3, 3}, UnaryCase{"relu", &relu, 0.1, 2},
                      UnaryCase{"gelu_erf", &gelu_erf, -3, 3}, UnaryCase{"gelu_tanh", &gelu_tanh, -3, 3},
                      UnaryCase{"silu", &silu, -3, 3}, UnaryCase{"sin", &sin, -3, 3}, UnaryCase{"cos", &cos, -3, 3},
                      UnaryCase{"square", &square, -2, 2}),
    [](const auto& info) { return std::string(info.param.name); });

struct BinaryCase {
  const char* name;
  Tensor (*fn)(const Tensor&, const Tensor&);
  double lo, hi;
};

class BinaryGrad : public ::testing::TestWithParam<BinaryCase> {};

TEST_P(BinaryGrad, MatchesFiniteDifferencesWithBroadcasting) {
  const BinaryCase c = GetParam();
  Generator gen(11);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{3, 4}, {}}, {{1, 4}, {3, 1}}};
  for (const auto& [sa, sb] : shapes) {
    for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
      const Tensor a = make_input(sa, gen, layout, c.lo, c.hi);
      const Tensor b = make_input(sb, gen, Layout::contiguous, c.lo, c.hi);
      EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return c.fn(v[0], v[1]); }, {a, b}), kTol)
          << c.name << " " << shape_str(sa) << " " << shape_str(sb);
    }
  }
}

Tensor pow_t(const Tensor& a, const Tensor& b) { return pow(a, b); }

INSTANTIATE_TEST_SUITE_P(Ops, BinaryGrad,
                         ::testing::Values(BinaryCase{"add", &add, -2, 2}, BinaryCase{"sub", &sub, -2, 2},
                                           BinaryCase{"mul", &mul, -2, 2}, BinaryCase{"div", &div, 0.5, 2},
                                           BinaryCase{"pow", &pow_t, 0.5, 2}, BinaryCase{"maximum", &maximum, -2, 2},
                                           BinaryCase{"minimum", &minimum, -2, 2}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Elementwise, ForwardValues) {
  const Tensor a = Tensor::from_vector<float>({1, -2, 3, -4}, {2, 2});
  const Tensor b = Tensor::from_vector<float>({10, 20}, {2});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{11, 18, 13, 16}));
  EXPECT_EQ(relu(a).to_vector<float>(), (std::vector<float>{1, 0, 3, 0}));
  EXPECT_EQ(maximum(a, Tensor::scalar(0.0)).to_vector<float>(), (std::vector<float>{1, 0, 3, 0}));
  EXPECT_EQ(where(gt(a, Tensor::scalar(0.0)), a, b.unsqueeze(1)).to_vector<float>(), (std::vector<float>{1, 10, 3, 20}));
}

TEST(Elementwise, FastF32MathIsAccurate) {
  std::vector<float> xs;
  for (int i = -2000; i <= 2000; ++i) xs.push_back(static_cast<float>(i) * 0.01F);
  const Tensor x = Tensor::from_vector(xs, {static_cast<std::int64_t>(xs.size())});
  const auto e = exp(x).to_vector<float>();
  const auto t = tanh(x).to_vector<float>();
  const auto s = sigmoid(x).to_vector<float>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double xd = xs[i];
    EXPECT_NEAR(e[i], std::exp(xd), 2e-7 * std::exp(xd)) << xd;
    // The rational tanh is within ~5 ulp near ±1 (it rounds to ±1 past |x| = 7.9) and 2 ulp elsewhere.
    EXPECT_NEAR(t[i], std::tanh(xd), 3e-7 * std::max(1e-3, std::fabs(std::tanh(xd)))) << xd;
    EXPECT_NEAR(s[i], 1 / (1 + std::exp(-xd)), 2e-7) << xd;
  }
  const auto special = exp(Tensor::from_vector<float>({-1000.F, 1000.F, 0.F}, {3})).to_vector<float>();
  EXPECT_EQ(special[0], 0.F);
  EXPECT_TRUE(std::isinf(special[1]));
  EXPECT_EQ(special[2], 1.F);
}

TEST(Elementwise, ExpAndSigmoidKeepF32AccuracyOverTheirWholeRange) {
  // Every 1/600 from -87.3 to 88.3 (an odd count, so the vector loop has a
  // tail), dense and as a stride-2 view (the kernel's strided loop).
  std::vector<float> xs;
  for (int i = 0; i <= 105360; ++i) xs.push_back(-87.3F + static_cast<float>(i) / 600.0F);
  std::vector<float> doubled;
  for (const float v : xs) doubled.insert(doubled.end(), {v, 0.0F});
  const auto n = static_cast<std::int64_t>(xs.size());
  const Tensor dense = Tensor::from_vector(xs, {n});
  const Tensor strided = Tensor::from_vector(doubled, {2 * n}).slice(0, 0, 2 * n, 2);
  for (const Tensor& x : {dense, strided}) {
    const auto e = exp(x).to_vector<float>();
    const auto s = sigmoid(x).to_vector<float>();
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double xd = xs[i];
      // ≤ 0.9 ulp for exp, ≤ 2.5 ulp for sigmoid (1 ulp ≤ 1.19e-7 relative).
      EXPECT_NEAR(e[i], std::exp(xd), 1.2e-7 * std::exp(xd)) << xd;
      const double sig = 1 / (1 + std::exp(-xd));
      if (xd >= -87) {
        EXPECT_NEAR(s[i], sig, 3e-7 * sig) << xd;
      }
    }
  }
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor special = Tensor::from_vector<float>({nan, inf, -inf, 88.3F, 89.0F, -87.5F, -100.0F}, {7});
  const auto e = exp(special).to_vector<float>();
  EXPECT_TRUE(std::isnan(e[0]));
  EXPECT_EQ(e[1], inf);
  EXPECT_EQ(e[2], 0.0F);
  const double e883 = std::exp(static_cast<double>(88.3F));
  EXPECT_NEAR(e[3], e883, 1.2e-7 * e883);
  EXPECT_EQ(e[4], inf);
  EXPECT_GT(e[5], 0.0F);  // subnormal, not flushed
  EXPECT_EQ(e[6], 0.0F);
  const auto s = sigmoid(special).to_vector<float>();
  EXPECT_TRUE(std::isnan(s[0]));
  EXPECT_EQ(s[1], 1.0F);
  EXPECT_EQ(s[2], 0.0F);
  EXPECT_EQ(s[3], 1.0F);
  EXPECT_GE(s[6], 0.0F);  // the true value, 3.7e-44, is subnormal
  EXPECT_LE(s[6], 1e-38F);
}

TEST(Elementwise, MismatchErrorsNameOpAndShapes) {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({4});
  try {
    (void)add(a, b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4]"), std::string::npos);
  }
  try {
    (void)mul(a, Tensor::zeros({2, 3}, DType::f64));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mul"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f64"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln
