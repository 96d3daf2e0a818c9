#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "kiln/train/data_loader.h"

namespace kiln::train {
namespace {

// inputs row i = [i, i + 0.5] (f32), targets i (i64), so a batch says which samples it holds.
DataLoader make_loader(std::int64_t n, const DataLoaderOptions& opt) {
  std::vector<float> x;
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(i) + 0.5F);
    y.push_back(i);
  }
  return DataLoader(Tensor::from_vector(x, {n, 2}), Tensor::from_vector(y, {n}), opt);
}

std::vector<std::int64_t> epoch_targets(DataLoader& loader) {
  loader.start_epoch();
  std::vector<std::int64_t> seen;
  for (std::int64_t b = 0; b < loader.num_batches(); ++b) {
    const Batch batch = loader.batch(b);
    const auto xs = batch.inputs.to_vector<float>();
    const auto ys = batch.targets.to_vector<std::int64_t>();
    EXPECT_EQ(batch.inputs.size(0), batch.targets.size(0));
    for (std::size_t i = 0; i < ys.size(); ++i) {
      EXPECT_EQ(xs[2 * i], static_cast<float>(ys[i]));  // inputs and targets stay paired
      EXPECT_EQ(xs[2 * i + 1], static_cast<float>(ys[i]) + 0.5F);
    }
    seen.insert(seen.end(), ys.begin(), ys.end());
  }
  return seen;
}

TEST(DataLoader, CoversEverySampleOncePerEpochWithPartialLastBatch) {
  DataLoader loader = make_loader(103, {.batch_size = 10, .shuffle = true, .seed = 5});
  EXPECT_EQ(loader.num_batches(), 11);
  loader.start_epoch();
  EXPECT_EQ(loader.batch(10).inputs.shape(), (Shape{3, 2}));
  std::vector<std::int64_t> first;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::int64_t> seen = epoch_targets(loader);
    ASSERT_EQ(seen.size(), 103U);
    if (epoch == 0) first = seen;
    if (epoch == 1) {
      EXPECT_NE(seen, first);  // a new order each epoch
    }
    std::sort(seen.begin(), seen.end());
    std::vector<std::int64_t> all(103);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all);
  }
}

TEST(DataLoader, ShuffleIsDeterministicForASeed) {
  DataLoader a = make_loader(50, {.batch_size = 7, .shuffle = true, .seed = 11});
  DataLoader b = make_loader(50, {.batch_size = 7, .shuffle = true, .seed = 11});
  DataLoader c = make_loader(50, {.batch_size = 7, .shuffle = true, .seed = 12});
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto ea = epoch_targets(a), eb = epoch_targets(b), ec = epoch_targets(c);
    EXPECT_EQ(ea, eb);
    EXPECT_NE(ea, ec);
  }
}

TEST(DataLoader, WithoutShuffleKeepsOrder) {
  DataLoader loader = make_loader(9, {.batch_size = 4});
  std::vector<std::int64_t> expect(9);
  std::iota(expect.begin(), expect.end(), 0);
  EXPECT_EQ(epoch_targets(loader), expect);
}

TEST(DataLoader, DropLastDropsThePartialBatch) {
  DataLoader loader = make_loader(10, {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(loader.num_batches(), 2);
  EXPECT_EQ(epoch_targets(loader).size(), 8U);
}

TEST(DataLoader, RejectsMismatchedOrBadArguments) {
  EXPECT_THROW(DataLoader(Tensor::zeros({4, 2}), Tensor::zeros({5}), {.batch_size = 2}), Error);
  EXPECT_THROW(DataLoader(Tensor::zeros({4, 2}), Tensor::zeros({4}), {.batch_size = 0}), Error);
  DataLoader loader = make_loader(4, {.batch_size = 2});
  EXPECT_THROW(loader.batch(2), Error);
}

TEST(GatherRows, CopiesRowsOfAnyDType) {
  const Tensor x = Tensor::from_vector<std::uint8_t>({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor g = gather_rows(x, {2, 0, 2});
  EXPECT_EQ(g.shape(), (Shape{3, 2}));
  EXPECT_EQ(g.to_vector<std::int64_t>(), (std::vector<std::int64_t>{5, 6, 1, 2, 5, 6}));
  // A transposed view is gathered by logical rows.
  const Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).t();
  EXPECT_EQ(gather_rows(t, {1}).to_vector<float>(), (std::vector<float>{2, 5}));
  EXPECT_THROW(gather_rows(x, {3}), Error);
}

}  // namespace
}  // namespace kiln::train
