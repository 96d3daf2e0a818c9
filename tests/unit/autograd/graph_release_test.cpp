#include <gtest/gtest.h>

#include <memory>

#include "gradcheck.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

TEST(GraphRelease, SavedTensorsAreFreedByBackward) {
  Tensor w = Tensor::ones({4, 4});
  w.set_requires_grad(true);
  std::weak_ptr<Storage> hidden_storage;
  Tensor loss;
  {
    const Tensor hidden = tanh(matmul(w, w));  // saved by the next mul's backward
    hidden_storage = hidden.storage();
    loss = sum(mul(hidden, hidden));
  }
  ASSERT_FALSE(hidden_storage.expired());  // the graph keeps it for backward
  loss.backward();
  EXPECT_TRUE(hidden_storage.expired()) << "backward must free what it no longer needs, even while `loss` lives";
  EXPECT_TRUE(w.grad().defined());
  // The graph is spent: a second backward is a clear error, not wrong gradients.
  test::expect_contains(test::error_of([&] { loss.backward(); }), {"retain_graph"});
}

TEST(GraphRelease, RetainGraphAllowsASecondBackward) {
  Tensor w = Tensor::full({3}, 2.0);
  w.set_requires_grad(true);
  const Tensor loss = sum(mul(w, w));
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{8, 8, 8}));  // 2·w twice
}

TEST(GraphRelease, SharedSubgraphOfAFreedGraphIsRefused) {
  Tensor w = Tensor::full({3}, 2.0);
  w.set_requires_grad(true);
  const Tensor h = exp(w);
  const Tensor a = sum(h), b = sum(mul(h, 2.0));
  a.backward();
  test::expect_contains(test::error_of([&] { b.backward(); }), {"already used"});
}

}  // namespace
}  // namespace kiln
