// Incremental decoding through the KV cache gives the logits of a full
// forward pass, with and without left padding, and refuses overflow.
#include <gtest/gtest.h>

#include "kiln/core/rng.h"
#include "kiln/models/gpt.h"
#include "kiln/ops/ops.h"

namespace kiln::models {
namespace {

GptConfig small_config() { return GptConfig{.vocab_size = 37, .n_positions = 24, .n_embd = 16, .n_layer = 2, .n_head = 4}; }

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a, b))).item(); }

TEST(GptKvCache, PrefillThenStepsMatchTheFullForward) {
  Generator gen(3);
  Gpt model(small_config(), gen);
  model.eval();
  NoGradGuard no_grad;
  const std::vector<std::int64_t> ids{5, 9, 1, 30, 2, 17, 8, 8, 11};
  const Tensor full = model.logits(Tensor::from_vector(ids, {1, 9}));  // [1, 9, V]
  GptKvCache cache = model.make_cache(1);
  // A 4-token prefill, then a 2-token chunk, then single tokens.
  Tensor got = model.decode(Tensor::from_vector(std::vector<std::int64_t>(ids.begin(), ids.begin() + 4), {1, 4}), cache);
  EXPECT_LT(max_abs_diff(got, full.slice(1, 3, 4).view({1, 37})), 1e-5);
  got = model.decode(Tensor::from_vector(std::vector<std::int64_t>{ids[4], ids[5]}, {1, 2}), cache);
  EXPECT_LT(max_abs_diff(got, full.slice(1, 5, 6).view({1, 37})), 1e-5);
  for (std::int64_t t = 6; t < 9; ++t) {
    got = model.decode(Tensor::from_vector(std::vector<std::int64_t>{ids[static_cast<std::size_t>(t)]}, {1, 1}), cache);
    EXPECT_LT(max_abs_diff(got, full.slice(1, t, t + 1).view({1, 37})), 1e-5) << "position " << t;
  }
  EXPECT_EQ(cache.length, 9);
}

TEST(GptKvCache, LeftPaddedBatchMatchesEachRowAlone) {
  Generator gen(4);
  Gpt model(small_config(), gen);
  model.eval();
  NoGradGuard no_grad;
  // Row 0: 2 padding tokens then 3 real; row 1: 5 real.
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 7, 3, 12, 4, 4, 20, 1, 6}, {2, 5});
  const Tensor mask = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 5});
  GptKvCache cache = model.make_cache(2);
  Tensor got = model.decode(ids, cache, mask);
  const Tensor next = Tensor::from_vector(std::vector<std::int64_t>{9, 2}, {2, 1});
  got = model.decode(next, cache);
  // Each row alone, unpadded, through the full forward.
  const Tensor row0 = model.logits(Tensor::from_vector(std::vector<std::int64_t>{7, 3, 12, 9}, {1, 4}));
  const Tensor row1 = model.logits(Tensor::from_vector(std::vector<std::int64_t>{4, 4, 20, 1, 6, 2}, {1, 6}));
  EXPECT_LT(max_abs_diff(got.slice(0, 0, 1), row0.slice(1, 3, 4).view({1, 37})), 1e-5);
  EXPECT_LT(max_abs_diff(got.slice(0, 1, 2), row1.slice(1, 5, 6).view({1, 37})), 1e-5);
}

TEST(GptKvCache, ReorderFollowsTheChosenRows) {
  Generator gen(5);
  Gpt model(small_config(), gen);
  model.eval();
  NoGradGuard no_grad;
  GptKvCache cache = model.make_cache(2);
  model.decode(Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}), cache);
  cache.reorder({1, 1, 0});  // three rows now: two copies of row 1, then row 0
  const Tensor got = model.decode(Tensor::from_vector(std::vector<std::int64_t>{7, 8, 9}, {3, 1}), cache);
  const Tensor a = model.logits(Tensor::from_vector(std::vector<std::int64_t>{4, 5, 6, 7}, {1, 4}));
  const Tensor b = model.logits(Tensor::from_vector(std::vector<std::int64_t>{4, 5, 6, 8}, {1, 4}));
  const Tensor c = model.logits(Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3, 9}, {1, 4}));
  EXPECT_LT(max_abs_diff(got.slice(0, 0, 1), a.slice(1, 3, 4).view({1, 37})), 1e-5);
  EXPECT_LT(max_abs_diff(got.slice(0, 1, 2), b.slice(1, 3, 4).view({1, 37})), 1e-5);
  EXPECT_LT(max_abs_diff(got.slice(0, 2, 3), c.slice(1, 3, 4).view({1, 37})), 1e-5);
  EXPECT_THROW(cache.reorder({3}), Error);
}

TEST(GptKvCache, OverflowAndForeignCachesAreRefused) {
  Generator gen(6);
  Gpt model(small_config(), gen);
  GptKvCache cache = model.make_cache(1, 5);
  model.decode(Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {1, 4}), cache);
  try {
    model.decode(Tensor::from_vector(std::vector<std::int64_t>{1, 2}, {1, 2}), cache);
    FAIL() << "overflow accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 cached + 2 new positions exceed the cache's 5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.make_cache(1, 25), Error);  // above the context of 24
  EXPECT_THROW(model.decode(Tensor::from_vector(std::vector<std::int64_t>{1, 2}, {2, 1}), cache), Error);  // 2 rows, cache has 1
}

TEST(GptKvCache, AppendingAfterAGradientReadIsCaughtByBackward) {
  // The cache's version guards a graph that read it: attention with grad over
  // the cache, then an append, then backward is refused instead of using
  // the overwritten keys.
  Generator gen(7);
  Gpt model(small_config(), gen);
  GptKvCache cache = model.make_cache(1);
  model.decode(Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3}, {1, 3}), cache);
  Tensor q = randn({1, 4, 1, 4}, gen).set_requires_grad();
  const Tensor keys = cache.k[0].slice(1, 0, 3).view({1, 3, 4, 4}).permute({0, 2, 1, 3});
  const Tensor values = cache.v[0].slice(1, 0, 3).view({1, 3, 4, 4}).permute({0, 2, 1, 3});
  const Tensor loss = sum(scaled_dot_product_attention(q, keys, values, true));
  model.decode(Tensor::from_vector(std::vector<std::int64_t>{4}, {1, 1}), cache);  // appends in place
  EXPECT_THROW(loss.backward(), Error);
}

}  // namespace
}  // namespace kiln::models
