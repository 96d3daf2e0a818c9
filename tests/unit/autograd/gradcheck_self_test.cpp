#include <gtest/gtest.h>

#include "gradcheck.h"

namespace kiln {
namespace {

// A deliberately wrong backward (2x the true gradient of x^2): the checker must flag it.
Tensor square_with_wrong_grad(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard g;
    out = mul(x, x);
  }
  const Tensor xd = x.detach();
  return record(out, "wrong", {x}, [xd](const Tensor& g) { return std::vector<Tensor>{mul(g, mul(xd, 4.0))}; });
}

TEST(Gradcheck, FlagsAWrongBackward) {
  Generator gen(1);
  const Tensor x = test::make_input({3, 2}, gen);
  EXPECT_GT(test::gradcheck_error([](const auto& v) { return square_with_wrong_grad(v[0]); }, {x}), 0.1);
  EXPECT_LT(test::gradcheck_error([](const auto& v) { return square(v[0]); }, {x}), 1e-6);
}

TEST(Autograd, AccumulatesAcrossBackwardCalls) {
  Tensor w = Tensor::from_vector<double>({1, 2, 3}, {3});
  w.set_requires_grad(true);
  sum(mul(w, w)).backward();
  sum(mul(w, w)).backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{4, 8, 12}));
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, NoGradAndDetach) {
  Tensor w = Tensor::from_vector<double>({1, 2}, {2});
  w.set_requires_grad(true);
  {
    NoGradGuard g;
    EXPECT_FALSE(mul(w, w).requires_grad());
  }
  EXPECT_FALSE(w.detach().requires_grad());
  EXPECT_TRUE(mul(w, w).requires_grad());
}

TEST(Autograd, NonScalarBackwardNeedsGradient) {
  Tensor w = Tensor::from_vector<double>({1, 2}, {2});
  w.set_requires_grad(true);
  try {
    mul(w, w).backward();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-scalar"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f64[2]"), std::string::npos);
  }
}

TEST(Autograd, SharedSubexpressionGetsSummedGradient) {
  Tensor x = Tensor::from_vector<double>({3}, {1});
  x.set_requires_grad(true);
  const Tensor y = mul(x, x);
  sum(add(y, mul(y, x))).backward();  // x^2 + x^3 → 2x + 3x^2 = 33
  EXPECT_DOUBLE_EQ(x.grad().item(), 33.0);
}

}  // namespace
}  // namespace kiln
