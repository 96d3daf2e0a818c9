// bf16 autocast: the GEMM-carrying ops run in bf16 and return f32, parameters
// and their gradients stay f32, and results agree with f32 to bf16's precision.
#include <gtest/gtest.h>

#include "kiln/core/rng.h"
#include "kiln/models/gpt.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/lm_head_loss.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/fused_updates.h"

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

namespace kiln {
namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  // bf16 -> f32 is exact, so equal f32 values mean equal bf16 bits (NaN aside)
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         cast(a, DType::f32).to_vector<float>() == cast(b, DType::f32).to_vector<float>();
}

TEST(AutocastWeightCopy, ParametersKeepTheirBf16CopyUntilWritten) {
  Generator gen(11);
  Tensor w = randn({6, 5}, gen).set_requires_grad();
  const Tensor c1 = autocast_weight(w, DType::bf16);
  EXPECT_TRUE(bit_equal(c1, cast(w.detach(), DType::bf16)));
  EXPECT_EQ(autocast_weight(w, DType::bf16).id(), c1.id());  // reused, not recast
  {
    NoGradGuard no_grad;
    fill_(w, 0.25);  // any in-place write makes the copy stale
  }
  const Tensor c2 = autocast_weight(w, DType::bf16);
  EXPECT_NE(c2.id(), c1.id());
  EXPECT_TRUE(bit_equal(c2, cast(w.detach(), DType::bf16)));
  // Activations (not leaves) are cast per call.
  const Tensor act = mul(w, 2.0);
  EXPECT_NE(autocast_weight(act, DType::bf16).id(), autocast_weight(act, DType::bf16).id());
}

TEST(AutocastWeightCopy, AdamWWritesTheCopyInItsUpdatePass) {
  Generator gen(12);
  const Tensor w0 = randn({33, 17}, gen), x = randn({4, 17}, gen);
  Tensor w = w0.clone().set_requires_grad(), ref = w0.clone().set_requires_grad();
  optim::AdamW opt(std::vector<Tensor>{w}, {.lr = 0.05, .weight_decay = 0.1});
  optim::AdamW opt_ref(std::vector<Tensor>{ref}, {.lr = 0.05, .weight_decay = 0.1});
  for (int step = 0; step < 3; ++step) {
    for (Tensor* p : {&w, &ref}) p->zero_grad();
    {
      const AutocastGuard autocast(DType::bf16);
      sum(linear(x, w, Tensor())).backward();
      sum(linear(x, ref, Tensor())).backward();
      // ref's copy is dropped each step, so its optimizer has none to write
      ref.impl().cast_mirror.reset();
    }
    opt.step();
    opt_ref.step();
    // The parameter itself is unaffected by writing the copy.
    EXPECT_EQ(w.detach().to_vector<float>(), ref.detach().to_vector<float>());
    // The copy the next forward reads is exactly bf16 of the updated weights.
    const Tensor copy = cast_mirror_for_update(w);
    ASSERT_TRUE(copy.defined()) << "step " << step;
    EXPECT_TRUE(bit_equal(copy, cast(w.detach(), DType::bf16))) << "step " << step;
  }
  // A copy of the wrong shape is refused, naming both tensors.
  Tensor g = Tensor::zeros({33, 17}), m = Tensor::zeros({33, 17}), v = Tensor::zeros({33, 17});
  EXPECT_THROW(optim::adam_step_(w.detach(), g, m, v, Tensor(), {.lr = 0.1}, Tensor::zeros({17, 33}, DType::bf16)),
               Error);
}

}  // namespace
}  // namespace kiln
