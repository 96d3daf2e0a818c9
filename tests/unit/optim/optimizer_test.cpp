#include <gtest/gtest.h>

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optim.h"

namespace kiln::optim {
namespace {

TEST(Optimizer, RejectsBadArguments) {
  Tensor p = Tensor::zeros({2});
  p.set_requires_grad(true);
  EXPECT_THROW(SGD(std::vector<Tensor>{}, {.lr = 0.1}), Error);
  EXPECT_THROW(SGD({p}, {.lr = -1}), Error);
  EXPECT_THROW(SGD({p}, {.lr = 0.1, .nesterov = true}), Error);
  EXPECT_THROW(SGD({p, p}, {.lr = 0.1}), Error);
  EXPECT_THROW(Adam({p}, {.beta1 = 1.0}), Error);
  EXPECT_THROW(Adam({Tensor::zeros({2}, DType::i64)}, {}), Error);
  try {
    Adam({p}, {.beta2 = 1.5});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Adam: invalid beta2"), std::string::npos) << e.what();
  }
}

TEST(Optimizer, SkipsParametersWithoutGradAndZeroGradClears) {
  Tensor a = Tensor::ones({3}), b = Tensor::ones({3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  SGD opt({a, b}, {.lr = 0.5});
  a.set_grad(Tensor::full({3}, 2.0));
  opt.step();
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, AdamFitsALinearRegression) {
  // y = 3x - 1 from 64 points; a Linear(1, 1) trained with Adam recovers it.
  Generator gen(3);
  nn::Linear fc(1, 1, true, gen);
  const Tensor x = uniform({64, 1}, -1, 1, gen);
  const Tensor y = sub(mul(x, 3.0), 1.0);
  Adam opt(fc.parameters(), {.lr = 0.05});
  double loss = 0;
  for (int i = 0; i < 500; ++i) {
    opt.zero_grad();
    const Tensor d = sub(fc.forward(x), y);
    const Tensor l = mean(mul(d, d));
    l.backward();
    opt.step();
    loss = l.item();
  }
  EXPECT_LT(loss, 1e-4);
  EXPECT_NEAR(fc.weight().item(), 3.0, 1e-2);
  EXPECT_NEAR(fc.bias().item(), -1.0, 1e-2);
}

}  // namespace
}  // namespace kiln::optim
