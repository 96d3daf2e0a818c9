#include <gtest/gtest.h>

#include <sstream>

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/train/evaluate.h"
#include "kiln/train/loop.h"
#include "kiln/train/models.h"

namespace kiln::train {
namespace {

TEST(CountCorrect, ComparesArgmaxWithLabels) {
  const Tensor logits = Tensor::from_vector<float>({0.1F, 0.9F, 2, -1, 0, 0, 5, 3}, {4, 2});
  const Tensor labels = Tensor::from_vector<std::int64_t>({1, 0, 1, 0}, {4});
  EXPECT_EQ(count_correct(logits, labels), 3);  // row 2 ties: argmax picks index 0
  EXPECT_THROW(count_correct(logits, Tensor::zeros({3}, DType::i64)), Error);
}

TEST(TrainEpoch, LearnsASeparableProblemAndEvaluates) {
  // Two Gaussian blobs in 2-d; class = which side of x0 + x1 = 0.
  Generator gen(21);
  const std::int64_t n = 256;
  const Tensor x = randn({n, 2}, gen);
  const std::vector<float> xv = x.to_vector<float>();
  std::vector<std::int64_t> labels;
  std::vector<float> onehot;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool pos = xv[2 * i] + xv[2 * i + 1] > 0;
    labels.push_back(pos ? 1 : 0);
    onehot.push_back(pos ? 0.0F : 1.0F);
    onehot.push_back(pos ? 1.0F : 0.0F);
  }
  const Tensor y = Tensor::from_vector(labels, {n});
  const Tensor targets = Tensor::from_vector(onehot, {n, 2});

  nn::Sequential model{std::make_shared<nn::Linear>(2, 16, true, gen), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(16, 2, true, gen)};
  optim::Adam opt(model.parameters(), {.lr = 0.02});
  DataLoader loader(x, targets, {.batch_size = 32, .shuffle = true, .seed = 1});
  const LossFn mse = [](const Tensor& out, const Tensor& t) { return mean(square(sub(out, t))); };

  std::ostringstream log;
  ProgressReporter progress(log, {.epochs = 30, .steps_per_epoch = loader.num_batches(), .log_every = 4});
  double first = 0, last = 0;
  for (int epoch = 1; epoch <= 30; ++epoch) {
    progress.start_epoch(epoch);
    last = train_epoch(model, opt, loader, mse, &progress);
    progress.end_epoch();
    if (epoch == 1) first = last;
  }
  EXPECT_LT(last, 0.5 * first);
  model.train();
  EXPECT_GT(evaluate_accuracy(model, x, y, 50), 0.95);
  EXPECT_TRUE(model.is_training());  // evaluation restores the mode
  EXPECT_NE(log.str().find("epoch 30/30  step 8/8"), std::string::npos);
}

TEST(Models, MlpMatchesTheReferenceArchitecture) {
  Generator gen(0);
  const auto model = make_model("mlp", gen);
  const auto named = model->named_parameters();
  ASSERT_EQ(named.size(), 6U);
  EXPECT_EQ(named[0].first, "1.weight");
  EXPECT_EQ(named[0].second.shape(), (Shape{512, 784}));
  EXPECT_EQ(named[2].second.shape(), (Shape{256, 512}));
  EXPECT_EQ(named[4].second.shape(), (Shape{10, 256}));
  EXPECT_EQ(model->forward(Tensor::zeros({3, 28, 28})).shape(), (Shape{3, 10}));
  try {
    make_model("resnet", gen);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'resnet' (available: mlp)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::train
