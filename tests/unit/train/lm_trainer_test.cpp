// The LM training step: clipping fused into AdamW gives the same update as
// clip_grad_norm_ followed by step(), and a non-finite gradient norm leaves
// the weights untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/models/gpt.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/clip_grad.h"
#include "kiln/train/lm_trainer.h"

namespace kiln::train {
namespace {

models::GptConfig tiny() { return {.vocab_size = 61, .n_positions = 16, .n_embd = 16, .n_layer = 1, .n_head = 2}; }

Batch batch() {
  Generator g(4);
  const Tensor ids = cast(mul(rand({2, 9}, g, DType::f64), 60.0), DType::i64);
  return {ids.slice(1, 0, 8).contiguous(), ids.slice(1, 1, 9).contiguous(), Tensor()};
}

TEST(AdamStepScaled, EqualsScalingTheGradientsFirst) {
  Generator gen(2);
  const Tensor p0 = randn({37}, gen), g0 = randn({37}, gen);
  Tensor a = p0.clone().set_requires_grad(), b = p0.clone().set_requires_grad();
  optim::AdamW oa({a}, {.lr = 1e-2, .weight_decay = 0.1}), ob({b}, {.lr = 1e-2, .weight_decay = 0.1});
  for (int step = 0; step < 3; ++step) {
    a.set_grad(g0.clone());
    b.set_grad(mul(g0, 0.3));
    oa.step_scaled(0.3);
    ob.step();
  }
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_THROW(oa.step_scaled(-1.0), Error);
}

TEST(LmTrainer, FusedClippingMatchesClipThenStep) {
  Generator g1(9), g2(9);
  models::Gpt m1(tiny(), g1), m2(tiny(), g2);
  LmTrainer trainer(m1, {.lr = 1e-2, .total_steps = 3, .grad_clip = 0.05});
  const Batch b = batch();
  const LmStepResult r = trainer.step([&] { return b; });
  EXPECT_FALSE(r.skipped);
  EXPECT_GT(r.grad_norm, 0.05);  // so clipping took effect

  std::vector<Tensor> decay, no_decay;
  for (const auto& [n, p] : m2.named_parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  optim::AdamW opt({{.params = decay, .weight_decay = 0.1}, {.params = no_decay, .weight_decay = 0.0}},
                   {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1});
  m2.loss(b.inputs, b.targets).backward();
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm_(m2.parameters(), 0.05), r.grad_norm);
  // LmTrainer's first update runs at the schedule's start (warmup 0: the base lr).
  opt.step();
  const auto p1 = m1.parameters(), p2 = m2.parameters();
  for (std::size_t i = 0; i < p1.size(); ++i) EXPECT_EQ(p1[i].to_vector<float>(), p2[i].to_vector<float>()) << i;
}

TEST(LmTrainer, NonFiniteGradientNormSkipsTheUpdate) {
  Generator gen(9);
  models::Gpt model(tiny(), gen);
  LmTrainer trainer(model, {.total_steps = 2});
  Tensor ln = model.named_parameters()[2].second;  // poison one LayerNorm gain
  {
    NoGradGuard no_grad;
    fill_(ln, std::numeric_limits<double>::quiet_NaN());
  }
  std::vector<std::vector<float>> before;
  for (const Tensor& p : model.parameters()) before.push_back(p.to_vector<float>());
  const Batch b = batch();
  const LmStepResult r = trainer.step([&] { return b; });
  EXPECT_TRUE(r.skipped);
  EXPECT_FALSE(std::isfinite(r.grad_norm));
  const auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto now = params[i].to_vector<float>();
    for (std::size_t k = 0; k < now.size(); ++k) {
      if (!std::isnan(before[i][k])) {
        EXPECT_EQ(now[k], before[i][k]) << "parameter " << i;
      }
    }
  }
}

}  // namespace
}  // namespace kiln::train
