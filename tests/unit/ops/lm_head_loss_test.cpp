// The fused, chunked LM head + cross-entropy against the composed
// cross_entropy(h · Wᵀ) in f64, over chunk sizes that do and do not divide N.
#include <gtest/gtest.h>

#include "kiln/core/rng.h"
#include "kiln/ops/lm_head_loss.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a, b))).item(); }

struct Case {
  std::int64_t n, c, v, chunk;
  bool with_ignored;
};

TEST(LmHeadLoss, MatchesComposedLossAndGradientsInF64) {
  Generator gen(7);
  for (const Case& k : {Case{13, 8, 50, 0, false}, Case{13, 8, 50, 4, true}, Case{32, 16, 97, 5, true},
                        Case{7, 5, 11, 7, false}, Case{9, 6, 300, 1, true}}) {
    const Tensor h0 = randn({k.n, k.c}, gen, DType::f64), w0 = randn({k.v, k.c}, gen, DType::f64);
    std::vector<std::int64_t> t(static_cast<std::size_t>(k.n));
    for (std::int64_t i = 0; i < k.n; ++i) t[i] = (i * 7919 + 3) % k.v;
    if (k.with_ignored) t[1] = t[k.n - 1] = -100;
    const Tensor target = Tensor::from_vector(t, {k.n});

    Tensor h1 = h0.clone().set_requires_grad(), w1 = w0.clone().set_requires_grad();
    const Tensor fused = lm_head_cross_entropy(h1, w1, target, {.chunk_rows = k.chunk});
    mul(fused, 3.0).backward();
    Tensor h2 = h0.clone().set_requires_grad(), w2 = w0.clone().set_requires_grad();
    const Tensor composed = cross_entropy(matmul(h2, w2.t()), target);
    mul(composed, 3.0).backward();
    EXPECT_NEAR(fused.item(), composed.item(), 1e-12) << "n " << k.n << " chunk " << k.chunk;
    EXPECT_LE(max_abs_diff(h1.grad(), h2.grad()), 1e-12);
    EXPECT_LE(max_abs_diff(w1.grad(), w2.grad()), 1e-12);
  }
}

TEST(LmHeadLoss, F32AgreesWithF64AndNoGradSkipsGradients) {
  Generator gen(3);
  const Tensor h = randn({20, 16}, gen, DType::f64), w = randn({70, 16}, gen, DType::f64);
  const Tensor target = Tensor::from_vector(std::vector<std::int64_t>(20, 5), {20});
  const double want = lm_head_cross_entropy(h, w, target).item();
  NoGradGuard no_grad;
  Tensor hf = h.to(DType::f32).set_requires_grad();
  const Tensor got = lm_head_cross_entropy(hf, w.to(DType::f32), target, {.chunk_rows = 3});
  EXPECT_NEAR(got.item(), want, 1e-5 * std::abs(want));
  EXPECT_TRUE(got.is_leaf());
}

TEST(LmHeadLoss, AllRowsIgnoredGivesZeroNotNan) {
  Tensor h = Tensor::ones({3, 4}, DType::f64).set_requires_grad();
  const Tensor w = Tensor::ones({6, 4}, DType::f64);
  const Tensor target = Tensor::from_vector(std::vector<std::int64_t>{-100, -100, -100}, {3});
  const Tensor loss = lm_head_cross_entropy(h, w, target);
  EXPECT_EQ(loss.item(), 0.0);
  loss.backward();
  EXPECT_EQ(max(abs(h.grad())).item(), 0.0);
}

TEST(LmHeadLoss, BadInputIsNamed) {
  const Tensor h = Tensor::ones({3, 4}), w = Tensor::ones({6, 4});
  try {
    lm_head_cross_entropy(h, w, Tensor::from_vector(std::vector<std::int64_t>{0, 6, 1}, {3}));
    FAIL() << "accepted target 6 with a vocabulary of 6";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("target 6 at row 1"), std::string::npos) << msg;
  }
  EXPECT_THROW(lm_head_cross_entropy(h, Tensor::ones({6, 5}), Tensor::zeros({3}, DType::i64)), Error);
  EXPECT_THROW(lm_head_cross_entropy(h, w, Tensor::zeros({2}, DType::i64)), Error);
  EXPECT_THROW(lm_head_cross_entropy(h, w.to(DType::f64), Tensor::zeros({3}, DType::i64)), Error);
}

}  // namespace
}  // namespace kiln
