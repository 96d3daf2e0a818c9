// l1_l2_penalty: Keras's l1·Σ|w| + l2·Σw², differentiable.
#include <gtest/gtest.h>

#include <string>

#include "kiln/optim/regularization.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

Tensor leaf(const std::vector<double>& values, const Shape& shape) {
  Tensor t = Tensor::from_vector<double>(values, shape);
  t.set_requires_grad(true);
  return t;
}

TEST(L1L2Penalty, ValueAndGradientFollowTheDefinition) {
  const Tensor w1 = leaf({1.0, -2.0, 0.0}, {3}), w2 = leaf({0.5, -0.25}, {1, 2});
  const double l1 = 0.1, l2 = 0.01;
  const Tensor penalty = l1_l2_penalty({w1, w2}, l1, l2);
  EXPECT_EQ(penalty.dim(), 0);
  EXPECT_NEAR(penalty.item(), l1 * (1 + 2 + 0 + 0.5 + 0.25) + l2 * (1 + 4 + 0 + 0.25 + 0.0625), 1e-15);
  penalty.backward();
  // d/dw = l1·sign(w) + 2·l2·w, with sign(0) = 0.
  EXPECT_EQ(w1.grad().to_vector<double>(), (std::vector<double>{l1 + 2 * l2 * 1.0, -l1 + 2 * l2 * -2.0, 0.0}));
  const std::vector<double> g2 = w2.grad().to_vector<double>();
  EXPECT_NEAR(g2[0], l1 + 2 * l2 * 0.5, 1e-15);
  EXPECT_NEAR(g2[1], -l1 + 2 * l2 * -0.25, 1e-15);
}

TEST(L1L2Penalty, ZeroCoefficientsDropTheirTerm) {
  const Tensor w = leaf({3.0, -4.0}, {2});
  EXPECT_EQ(l1_l2_penalty({w}, 0.5, 0.0).item(), 3.5);
  EXPECT_EQ(l1_l2_penalty({w}, 0.0, 0.5).item(), 12.5);
  const Tensor none = l1_l2_penalty({w}, 0.0, 0.0);
  EXPECT_EQ(none.item(), 0.0);
  EXPECT_EQ(none.dtype(), DType::f64);
  EXPECT_FALSE(none.requires_grad());
}

TEST(L1L2Penalty, RejectsBadArgumentsByName) {
  const Tensor w = leaf({1.0}, {1});
  EXPECT_THROW(l1_l2_penalty({w}, -0.1, 0.0), Error);
  EXPECT_THROW(l1_l2_penalty({}, 0.1, 0.0), Error);
  try {
    l1_l2_penalty({w, Tensor::ones({2})}, 0.1, 0.1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 1 is f32[2]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::optim
