#include "kiln/train/token_loader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "io/io_test_util.h"

namespace kiln {
namespace {

using test::expect_error;
using test::TempDir;
using train::TokenLoader;

/// A token file holding 0, 1, ..., n-1 (so an id is its own offset).
std::shared_ptr<const io::TokenFile> counting_file(const TempDir& dir, std::uint16_t n) {
  std::vector<std::uint16_t> ids(n);
  for (std::uint16_t i = 0; i < n; ++i) ids[i] = i;
  const auto path = dir / ("count" + std::to_string(n) + ".bin");
  io::write_token_file(path, ids, {.vocab_size = n});
  return std::make_shared<const io::TokenFile>(path);
}

std::vector<std::int64_t> values(const Tensor& t) { return t.to_vector<std::int64_t>(); }

TEST(TokenLoader, TargetsAreInputsShiftedByOne) {
  TempDir dir;
  TokenLoader loader(counting_file(dir, 500), {.batch_size = 4, .seq_len = 16, .seed = 7});
  for (int s = 0; s < 5; ++s) {
    const train::Batch b = loader.next_batch();
    ASSERT_EQ(b.inputs.shape(), (Shape{4, 16}));
    ASSERT_EQ(b.targets.shape(), (Shape{4, 16}));
    EXPECT_EQ(b.inputs.dtype(), DType::i64);
    EXPECT_EQ(b.targets.dtype(), DType::i64);
    EXPECT_FALSE(b.weights.defined());
    const auto in = values(b.inputs), tg = values(b.targets);
    for (std::int64_t r = 0; r < 4; ++r) {
      const std::int64_t start = loader.window_start(s, r);
      for (std::int64_t i = 0; i < 16; ++i) {
        EXPECT_EQ(in[static_cast<std::size_t>(r * 16 + i)], start + i);
        EXPECT_EQ(tg[static_cast<std::size_t>(r * 16 + i)], start + i + 1);
      }
    }
  }
  EXPECT_EQ(loader.step(), 5);
}

TEST(TokenLoader, StreamDependsOnlyOnSeedAndStep) {
  TempDir dir;
  const auto file = counting_file(dir, 1000);
  TokenLoader a(file, {.batch_size = 3, .seq_len = 8, .seed = 42});
  std::vector<std::vector<std::int64_t>> first_run;
  for (int s = 0; s < 10; ++s) first_run.push_back(values(a.next_batch().inputs));

  // A resumed loader (step restored from a checkpoint) continues the same stream.
  TokenLoader resumed(file, {.batch_size = 3, .seq_len = 8, .seed = 42});
  resumed.set_step(6);
  for (int s = 6; s < 10; ++s) EXPECT_EQ(values(resumed.next_batch().inputs), first_run[static_cast<std::size_t>(s)]);
  EXPECT_EQ(values(a.batch_at(3).inputs), first_run[3]);

  // Another seed gives another stream; consecutive steps differ.
  TokenLoader other(file, {.batch_size = 3, .seq_len = 8, .seed = 43});
  EXPECT_NE(values(other.next_batch().inputs), first_run[0]);
  EXPECT_NE(first_run[0], first_run[1]);
  expect_error([&] { resumed.set_step(-1); }, {"set_step", "-1"});
}

TEST(TokenLoader, WindowStartsCoverEveryValidOffset) {
  TempDir dir;
  // 10 tokens, T = 7: starts 0, 1, 2 are the only windows with a target for every input.
  TokenLoader loader(counting_file(dir, 10), {.batch_size = 5, .seq_len = 7, .seed = 1});
  std::set<std::int64_t> seen;
  for (std::int64_t s = 0; s < 60; ++s) {
    for (std::int64_t r = 0; r < 5; ++r) seen.insert(loader.window_start(s, r));
  }
  EXPECT_EQ(seen, (std::set<std::int64_t>{0, 1, 2}));
  // The smallest file: exactly T + 1 tokens, one window.
  TokenLoader tight(counting_file(dir, 8), {.batch_size = 2, .seq_len = 7});
  EXPECT_EQ(values(tight.next_batch().targets), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(TokenLoader, SequentialPassVisitsEveryTargetOnce) {
  TempDir dir;
  // 21 tokens, T = 4: windows start at 0, 4, 8, 12, 16 (each with ids start..start+4).
  TokenLoader loader(counting_file(dir, 21), {.batch_size = 2, .seq_len = 4});
  EXPECT_EQ(loader.num_windows(), 5);
  ASSERT_EQ(loader.num_sequential_batches(), 3);
  EXPECT_EQ(loader.num_sequential_batches(2), 2);
  EXPECT_EQ(loader.num_sequential_batches(10), 3);
  std::vector<std::int64_t> targets;
  for (std::int64_t b = 0; b < 3; ++b) {
    const train::Batch batch = loader.sequential_batch(b);
    const std::int64_t rows = b < 2 ? 2 : 1;  // the last batch holds the one window left
    ASSERT_EQ(batch.inputs.shape(), (Shape{rows, 4}));
    const auto in = values(batch.inputs), tg = values(batch.targets);
    for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(tg[i], in[i] + 1);
    EXPECT_EQ(in[0], b * 8);
    targets.insert(targets.end(), tg.begin(), tg.end());
  }
  std::vector<std::int64_t> expected(20);
  for (std::int64_t i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i + 1;
  EXPECT_EQ(targets, expected);  // ids 1..20, each predicted once
  EXPECT_EQ(loader.step(), 0);   // the sequential pass leaves the training stream alone
  expect_error([&] { loader.sequential_batch(3); }, {"batch 3", "0..2", "count21.bin"});
  expect_error([&] { loader.num_sequential_batches(-1); }, {"max_batches", "-1"});
}

TEST(TokenLoader, FileShorterThanAWindowIsAClearError) {
  TempDir dir;
  const auto file = counting_file(dir, 16);
  expect_error([&] { TokenLoader(file, {.batch_size = 1, .seq_len = 16}); },
               {"count16.bin", "16 tokens", "sequence length 16", "at least 17"});
  expect_error([&] { TokenLoader(file, {.batch_size = 0, .seq_len = 4}); }, {"batch size", "at least 1"});
  expect_error([&] { TokenLoader(file, {.batch_size = 2, .seq_len = 0}); }, {"sequence length 0"});
  expect_error([&] { TokenLoader(nullptr, {}); }, {"no token file"});
}

}  // namespace
}  // namespace kiln
