// bf16 autocast: the GEMM-carrying ops run in bf16 and return f32, parameters
// and their gradients stay f32, and results agree with f32 to bf16's precision.
#include <gtest/gtest.h>

#include "kiln/core/rng.h"
#include "kiln/models/gpt.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/lm_head_loss.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

double rel_err(const Tensor& got, const Tensor& want) {
  const Tensor g = got.to(DType::f64), w = want.to(DType::f64);
  return max(abs(sub(g, w))).item() / std::max(1e-12, max(abs(w)).item());
}

TEST(Autocast, LinearRunsInBf16WithF32ResultsAndGradients) {
  Generator gen(5);
  const Tensor x0 = randn({3, 5, 48}, gen), w0 = randn({40, 48}, gen), b0 = randn({40}, gen);
  Tensor x1 = x0.clone().set_requires_grad(), w1 = w0.clone().set_requires_grad(), b1 = b0.clone().set_requires_grad();
  Tensor y;
  {
    const AutocastGuard autocast(DType::bf16);
    y = linear(x1, w1, b1);
  }
  EXPECT_EQ(y.dtype(), DType::f32);
  const Tensor gy = randn(y.shape(), gen);
  sum(mul(y, gy)).backward();
  Tensor x2 = x0.clone().set_requires_grad(), w2 = w0.clone().set_requires_grad(), b2 = b0.clone().set_requires_grad();
  const Tensor y2 = linear(x2, w2, b2);
  sum(mul(y2, gy)).backward();
  EXPECT_LT(rel_err(y, y2), 2e-2);  // bf16 keeps 8 bits of mantissa
  EXPECT_EQ(w1.grad().dtype(), DType::f32);
  EXPECT_EQ(x1.grad().dtype(), DType::f32);
  EXPECT_LT(rel_err(x1.grad(), x2.grad()), 2e-2);
  EXPECT_LT(rel_err(w1.grad(), w2.grad()), 2e-2);
  EXPECT_LT(rel_err(b1.grad(), b2.grad()), 1e-6);  // the bias gradient is an f32 sum either way
}

TEST(Autocast, GuardNestsAndRestores) {
  EXPECT_FALSE(autocast_dtype().has_value());
  {
    const AutocastGuard on(DType::bf16);
    EXPECT_EQ(autocast_dtype(), DType::bf16);
    {
      const AutocastGuard off(DType::f32);
      EXPECT_FALSE(autocast_dtype().has_value());
    }
    EXPECT_EQ(autocast_dtype(), DType::bf16);
  }
  EXPECT_FALSE(autocast_dtype().has_value());
  EXPECT_THROW(AutocastGuard(DType::i32), Error);
}

TEST(Autocast, GptLossAndGradientsFollowF32) {
  Generator gen(11);
  models::Gpt model(models::GptConfig{.vocab_size = 97, .n_positions = 32, .n_embd = 32, .n_layer = 2, .n_head = 4}, gen);
  Generator data(3);
  const Tensor ids = cast(mul(rand({2, 17}, data, DType::f64), 96.0), DType::i64);
  const Tensor in = ids.slice(1, 0, 16).contiguous(), tg = ids.slice(1, 1, 17).contiguous();
  const Tensor loss32 = model.loss(in, tg);
  loss32.backward();
  std::vector<Tensor> g32;
  for (const Tensor& p : model.parameters()) g32.push_back(p.grad().clone());
  model.zero_grad();
  Tensor loss16;
  {
    const AutocastGuard autocast(DType::bf16);
    loss16 = model.loss(in, tg);
    loss16.backward();
  }
  EXPECT_EQ(loss16.dtype(), DType::f32);
  EXPECT_NEAR(loss16.item(), loss32.item(), 2e-2);
  const auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].grad().dtype(), DType::f32);
    EXPECT_LT(rel_err(params[i].grad(), g32[i]), 0.1) << "parameter " << i;
  }
}

}  // namespace
}  // namespace kiln
