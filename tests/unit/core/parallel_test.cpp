// parallel_for on the persistent decode team (ThreadTeamScope): every index
// exactly once, nested calls inline, wake-up after the workers went to sleep,
// and scopes that come and go. Also built under ThreadSanitizer (tests/tsan).
#include "kiln/core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace kiln {
namespace {

// Runs parallel_for over [0, n) and checks each index was visited exactly once.
void expect_each_index_once(std::int64_t n, std::int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
  parallel_for(0, n, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
  });
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << "index " << i << " of " << n;
}

class ParallelTeam : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = num_threads();
    set_num_threads(3);  // two workers beside the calling thread, whatever the machine has
  }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_F(ParallelTeam, EveryIndexOnceOverManySmallCalls) {
  const ThreadTeamScope team;
  for (int call = 0; call < 300; ++call) expect_each_index_once(1 + call % 97, 1);
  expect_each_index_once(100000, 64);
}

TEST_F(ParallelTeam, UsesSeveralThreadsAndNestedCallsRunInline) {
  const ThreadTeamScope team;
  std::atomic<int> distinct{0};
  std::vector<std::thread::id> seen(3);
  std::atomic<int> nested_total{0};
  parallel_for(0, 3, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      seen[static_cast<std::size_t>(i)] = std::this_thread::get_id();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // so no thread takes two parts
    }
    // A nested call runs on this thread only.
    const auto me = std::this_thread::get_id();
    parallel_for(0, 100, 1, [&](std::int64_t nb, std::int64_t ne) {
      EXPECT_EQ(std::this_thread::get_id(), me);
      nested_total.fetch_add(static_cast<int>(ne - nb));
    });
  });
  EXPECT_EQ(nested_total.load(), 300);
  for (std::size_t i = 0; i < 3; ++i) {
    bool fresh = true;
    for (std::size_t j = 0; j < i; ++j) fresh = fresh && seen[j] != seen[i];
    distinct += fresh ? 1 : 0;
  }
  EXPECT_EQ(distinct.load(), 3);
}

TEST_F(ParallelTeam, WakesWorkersThatWentToSleep) {
  const ThreadTeamScope team;
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // longer than the workers spin
    expect_each_index_once(1000, 1);
  }
}

TEST_F(ParallelTeam, ScopesComeAndGoAndNest) {
  for (int i = 0; i < 50; ++i) {
    const ThreadTeamScope outer;
    expect_each_index_once(500, 1);
    {
      const ThreadTeamScope inner;  // reuses the outer team
      expect_each_index_once(500, 1);
    }
    expect_each_index_once(500, 1);
  }
}

TEST_F(ParallelTeam, OneThreadNeedsNoTeam) {
  set_num_threads(1);
  const ThreadTeamScope team;
  expect_each_index_once(1000, 1);
}

}  // namespace
}  // namespace kiln
