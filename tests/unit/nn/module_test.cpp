#include <gtest/gtest.h>

#include <cmath>

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {
namespace {

TEST(Linear, ShapesAndParameterNames) {
  Generator gen(1);
  Linear fc(5, 3, true, gen);
  EXPECT_EQ(fc.weight().shape(), (Shape{3, 5}));
  EXPECT_EQ(fc.bias().shape(), (Shape{3}));
  EXPECT_TRUE(fc.weight().requires_grad());
  EXPECT_TRUE(fc.bias().requires_grad());
  const auto named = fc.named_parameters();
  ASSERT_EQ(named.size(), 2U);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_EQ(fc.forward(Tensor::ones({4, 5})).shape(), (Shape{4, 3}));
  EXPECT_EQ(fc.forward(Tensor::ones({2, 4, 5})).shape(), (Shape{2, 4, 3}));
  EXPECT_THROW(fc.forward(Tensor::ones({4, 6})), Error);

  Linear no_bias(5, 3, false, gen);
  EXPECT_FALSE(no_bias.bias().defined());
  EXPECT_EQ(no_bias.parameters().size(), 1U);
  EXPECT_THROW(Linear(0, 3, true, gen), Error);
}

TEST(Linear, DefaultInitIsUniformWithinOneOverSqrtFanIn) {
  Generator gen(2);
  Linear fc(400, 300, true, gen);
  const double bound = 1.0 / std::sqrt(400.0);
  for (const Tensor& p : {fc.weight(), fc.bias()}) {
    const std::vector<float> v = p.to_vector<float>();
    double lo = 1e9, hi = -1e9, mean = 0, sq = 0;
    for (const float x : v) {
      lo = std::min(lo, static_cast<double>(x));
      hi = std::max(hi, static_cast<double>(x));
      mean += x;
      sq += static_cast<double>(x) * x;
    }
    mean /= static_cast<double>(v.size());
    const double var = sq / static_cast<double>(v.size()) - mean * mean;
    EXPECT_GE(lo, -bound);
    EXPECT_LE(hi, bound);
    // A uniform fills its range: the extremes come close to the bounds, the variance is b²/3.
    EXPECT_LT(hi, bound);
    EXPECT_GT(hi, 0.9 * bound);
    EXPECT_LT(lo, -0.9 * bound);
    EXPECT_NEAR(var, bound * bound / 3.0, 0.1 * bound * bound / 3.0);
  }
}

TEST(Linear, SameSeedSameWeights) {
  Generator a(42), b(42), c(43);
  Linear x(10, 4, true, a), y(10, 4, true, b), z(10, 4, true, c);
  EXPECT_EQ(x.weight().to_vector<float>(), y.weight().to_vector<float>());
  EXPECT_NE(x.weight().to_vector<float>(), z.weight().to_vector<float>());
}

TEST(Linear, DefaultGeneratorFollowsManualSeed) {
  manual_seed(7);
  Linear x(6, 2);
  manual_seed(7);
  Linear y(6, 2);
  EXPECT_EQ(x.weight().to_vector<float>(), y.weight().to_vector<float>());
}

TEST(Linear, ForwardMatchesManualComputation) {
  Generator gen(3);
  Linear fc(3, 2, true, gen);
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, -1, 0, 0.5F}, {2, 3});
  const std::vector<float> y = fc.forward(x).to_vector<float>();
  const std::vector<float> w = fc.weight().to_vector<float>(), b = fc.bias().to_vector<float>();
  const std::vector<float> xv = x.to_vector<float>();
  for (int i = 0; i < 2; ++i) {
    for (int o = 0; o < 2; ++o) {
      float expect = b[o];
      for (int k = 0; k < 3; ++k) expect += xv[i * 3 + k] * w[o * 3 + k];
      EXPECT_NEAR(y[i * 2 + o], expect, 1e-6);
    }
  }
}

std::shared_ptr<Sequential> small_mlp(Generator& gen) {
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Layer>>{
      std::make_shared<Flatten>(), std::make_shared<Linear>(12, 8, true, gen), std::make_shared<ReLU>(),
      std::make_shared<Linear>(8, 3, true, gen)});
}

TEST(Sequential, ParametersInOrderWithDottedNames) {
  Generator gen(4);
  const auto model = small_mlp(gen);
  const auto named = model->named_parameters();
  ASSERT_EQ(named.size(), 4U);
  EXPECT_EQ(named[0].first, "1.weight");
  EXPECT_EQ(named[1].first, "1.bias");
  EXPECT_EQ(named[2].first, "3.weight");
  EXPECT_EQ(named[3].first, "3.bias");
  EXPECT_EQ(named[0].second.shape(), (Shape{8, 12}));
  EXPECT_EQ(named[2].second.shape(), (Shape{3, 8}));
  const auto params = model->parameters();
  ASSERT_EQ(params.size(), 4U);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].id(), named[i].second.id());
  EXPECT_TRUE(model->parameters(false).empty());
  EXPECT_EQ(model->size(), 4U);
  EXPECT_EQ((*model)[2]->name(), "ReLU()");
  EXPECT_THROW((void)(*model)[4], Error);
}

TEST(Sequential, ForwardChainsAndBackwardReachesEveryParameter) {
  Generator gen(5);
  const auto model = small_mlp(gen);
  const Tensor x = randn({6, 3, 4}, gen);
  const Tensor y = model->forward(x);
  EXPECT_EQ(y.shape(), (Shape{6, 3}));
  sum(mul(y, y)).backward();
  for (const Tensor& p : model->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().shape(), p.shape());
  }
  model->zero_grad();
  for (const Tensor& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, TrainEvalIsRecursive) {
  Generator gen(6);
  const auto model = small_mlp(gen);
  EXPECT_TRUE(model->is_training());
  model->eval();
  EXPECT_FALSE(model->is_training());
  for (const auto& [name, child] : model->named_children()) EXPECT_FALSE(child->is_training());
  model->train();
  for (const auto& [name, child] : model->named_children()) EXPECT_TRUE(child->is_training());
}

TEST(Flatten, KeepsBatchDimension) {
  Flatten f;
  EXPECT_EQ(f.forward(Tensor::zeros({2, 3, 4, 5})).shape(), (Shape{2, 60}));
  Flatten g(1, 2);
  EXPECT_EQ(g.forward(Tensor::zeros({2, 3, 4, 5})).shape(), (Shape{2, 12, 5}));
}

TEST(ReLU, ZeroesNegatives) {
  ReLU r;
  EXPECT_EQ(r.forward(Tensor::from_vector<float>({-1, 0, 2}, {3})).to_vector<float>(), (std::vector<float>{0, 0, 2}));
}

TEST(Init, XavierAndKaimingBounds) {
  Generator gen(8);
  Tensor w = Tensor::empty({30, 20});
  init::xavier_uniform_(w, gen, 2.0);
  const double xb = 2.0 * std::sqrt(6.0 / 50.0);
  for (const float v : w.to_vector<float>()) EXPECT_LE(std::fabs(v), xb);
  init::kaiming_uniform_(w, gen);  // a = 0: √6/√fan_in
  const double kb = std::sqrt(6.0 / 20.0);
  double hi = 0;
  for (const float v : w.to_vector<float>()) {
    EXPECT_LE(std::fabs(v), kb);
    hi = std::max(hi, std::fabs(static_cast<double>(v)));
  }
  EXPECT_GT(hi, 0.9 * kb);
  const auto [fan_in, fan_out] = init::fan_in_and_fan_out(Tensor::empty({8, 3, 5, 5}));
  EXPECT_EQ(fan_in, 75);
  EXPECT_EQ(fan_out, 200);
  Tensor v1 = Tensor::empty({5});
  EXPECT_THROW(init::xavier_uniform_(v1, gen), Error);
}

TEST(Init, NormalMomentsAndConstant) {
  Generator gen(9);
  Tensor w = Tensor::empty({200, 100}, DType::f64);
  init::normal_(w, 1.5, 0.5, gen);
  const std::vector<double> v = w.to_vector<double>();
  double mean = 0, sq = 0;
  for (const double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (const double x : v) sq += (x - mean) * (x - mean);
  EXPECT_NEAR(mean, 1.5, 0.02);
  EXPECT_NEAR(std::sqrt(sq / static_cast<double>(v.size())), 0.5, 0.02);
  init::constant_(w, 3.0);
  EXPECT_EQ(w.to_vector<double>()[123], 3.0);
}

TEST(Init, WorksOnParametersThatRequireGrad) {
  Generator gen(10);
  Tensor p = Tensor::zeros({4, 4});
  p.set_requires_grad(true);
  EXPECT_NO_THROW(init::uniform_(p, -1, 1, gen));
  EXPECT_NE(p.to_vector<float>(), std::vector<float>(16, 0.0F));
}

}  // namespace
}  // namespace kiln::nn
