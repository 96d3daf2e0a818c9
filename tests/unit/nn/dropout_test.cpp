#include <gtest/gtest.h>

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {
namespace {

TEST(DropoutModule, TrainingZeroesAndRescalesEvalIsIdentity) {
  Generator gen(3);
  Dropout drop(0.25, gen);
  const Tensor x = Tensor::ones({100, 100});
  const std::vector<float> y = drop.forward(x).to_vector<float>();
  std::int64_t zeros = 0;
  for (const float v : y) {
    if (v == 0.0F) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1.0F / 0.75F);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 10000.0, 0.25, 0.03);
  drop.eval();
  EXPECT_EQ(drop.forward(x).to_vector<float>(), x.to_vector<float>());
  EXPECT_THROW(Dropout(1.0, gen), Error);
  EXPECT_THROW(Dropout(-0.1, gen), Error);
}

TEST(DropoutModule, SameGeneratorSeedSameMask) {
  Generator a(5), b(5);
  Dropout da(0.5, a), db(0.5, b);
  const Tensor x = Tensor::ones({64});
  EXPECT_EQ(da.forward(x).to_vector<float>(), db.forward(x).to_vector<float>());
}

TEST(DropoutModule, FollowsTheModuleTreeMode) {
  Generator gen(6);
  Sequential seq{std::make_shared<Dropout>(0.5, gen)};
  seq.eval();
  const Tensor x = Tensor::ones({32});
  EXPECT_EQ(seq.forward(x).to_vector<float>(), x.to_vector<float>());
}

}  // namespace
}  // namespace kiln::nn
