// In-place writes count on the storage's version; backward refuses a node
// whose input was written after the op read it (the KV-cache and
// optimizer-step hazards), and accepts writes made after backward.
#include <gtest/gtest.h>

#include <string>

#include "kiln/ops/ops.h"

namespace kiln {
namespace {

TEST(VersionCounter, InPlaceOpsCountWritesSharedByViews) {
  Tensor t = Tensor::zeros({4, 3});
  const std::uint64_t v0 = t.storage()->version();
  Tensor row = t.slice(0, 1, 2);  // a view shares the storage and so the counter
  fill_(row, 2.0);
  EXPECT_EQ(t.storage()->version(), v0 + 1);
  add_(t, Tensor::ones({4, 3}));
  mul_(t, 3.0);
  copy_(t, Tensor::ones({4, 3}));
  EXPECT_EQ(t.storage()->version(), v0 + 4);
  const Tensor fresh = add(t, t);  // out-of-place results start their own count
  EXPECT_EQ(fresh.storage()->version(), 0U);
}

TEST(VersionCounter, BackwardRefusesAnInputWrittenAfterUse) {
  Tensor w = Tensor::ones({3, 3}).set_requires_grad();
  Tensor cache = Tensor::full({3, 3}, 0.5);  // e.g. a KV cache read by attention
  const Tensor loss = sum(matmul(w, cache));
  fill_(cache, 7.0);  // an append after the read: the saved values are stale
  try {
    loss.backward();
    FAIL() << "backward ran on a stale input";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("modified in place"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
  }
}

TEST(VersionCounter, WritesAfterBackwardAndUnrelatedWritesAreFine) {
  Tensor w = Tensor::ones({2, 2}).set_requires_grad();
  Tensor x = Tensor::full({2, 2}, 2.0);
  Tensor unrelated = Tensor::zeros({2});
  const Tensor loss = sum(mul(w, x));
  fill_(unrelated, 1.0);
  loss.backward();
  EXPECT_DOUBLE_EQ(sum(w.grad()).item(), 8.0);
  fill_(x, 0.0);  // after backward: nothing is waiting for it
  {
    NoGradGuard no_grad;
    add_(w, Tensor::ones({2, 2}));  // an optimizer-style update of the leaf
  }
  const Tensor loss2 = sum(mul(w, x));
  loss2.backward();
  EXPECT_DOUBLE_EQ(sum(w.grad()).item(), 8.0);  // accumulated: 8 + 0
}

}  // namespace
}  // namespace kiln
