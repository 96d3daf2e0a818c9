#include "kiln/text/word_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace kiln::text::detail {
namespace {

// Ids that depend on the word alone, so any thread can check any entry.
std::vector<std::int64_t> ids_of(const std::string& word) {
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < word.size() % 5 + 1; ++i) ids.push_back(static_cast<std::int64_t>(word.size() * 1000 + i));
  return ids;
}

std::string word(int i) { return "w" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 7), 'x'); }

bool lookup(const WordCache& cache, const std::string& w, std::vector<std::int64_t>& out) {
  out.clear();
  return cache.lookup(w, WordCache::hash(w), out);
}

TEST(WordCache, InsertThenLookup) {
  WordCache cache(10);
  WordCache::Writer writer;
  std::vector<std::int64_t> out;
  EXPECT_FALSE(lookup(cache, "hello", out));
  cache.insert("hello", WordCache::hash("hello"), ids_of("hello"), writer);
  ASSERT_TRUE(lookup(cache, "hello", out));
  EXPECT_EQ(out, ids_of("hello"));
  EXPECT_FALSE(lookup(cache, "hell", out));
  // A second insert of the same word changes nothing.
  cache.insert("hello", WordCache::hash("hello"), std::vector<std::int64_t>{7}, writer);
  ASSERT_TRUE(lookup(cache, "hello", out));
  EXPECT_EQ(out, ids_of("hello"));
}

TEST(WordCache, LookupAppendsToOutput) {
  WordCache cache(8);
  WordCache::Writer writer;
  cache.insert("ab", WordCache::hash("ab"), std::vector<std::int64_t>{1, 2}, writer);
  std::vector<std::int64_t> out = {9};
  ASSERT_TRUE(cache.lookup("ab", WordCache::hash("ab"), out));
  EXPECT_EQ(out, (std::vector<std::int64_t>{9, 1, 2}));
}

TEST(WordCache, CollidingHashesAreTellApartByTheirBytes) {
  WordCache cache(6);
  WordCache::Writer writer;
  const std::uint64_t h = 12345;  // the same hash for different words
  cache.insert("one", h, std::vector<std::int64_t>{1}, writer);
  cache.insert("two", h, std::vector<std::int64_t>{2}, writer);
  std::vector<std::int64_t> out;
  ASSERT_TRUE(cache.lookup("two", h, out));
  EXPECT_EQ(out, std::vector<std::int64_t>{2});
  out.clear();
  ASSERT_TRUE(cache.lookup("one", h, out));
  EXPECT_EQ(out, std::vector<std::int64_t>{1});
  out.clear();
  EXPECT_FALSE(cache.lookup("three", h, out));
}

TEST(WordCache, StopsTakingWordsWhenHalfTheSlotsAreUsed) {
  WordCache cache(8);  // 256 slots, at most 128 words
  WordCache::Writer writer;
  for (int i = 0; i < 1000; ++i) cache.insert(word(i), WordCache::hash(word(i)), ids_of(word(i)), writer);
  EXPECT_TRUE(cache.full());
  std::vector<std::int64_t> out;
  int cached = 0;
  for (int i = 0; i < 1000; ++i) {
    if (lookup(cache, word(i), out)) {
      ++cached;
      EXPECT_EQ(out, ids_of(word(i)));
    }
  }
  EXPECT_GT(cached, 64);
  EXPECT_LE(cached, 128);
}

TEST(WordCache, StopsTakingWordsWhenTheArenaIsFull) {
  WordCache cache(12, 1024);
  WordCache::Writer writer;
  for (int i = 0; i < 500; ++i) cache.insert(word(i), WordCache::hash(word(i)), ids_of(word(i)), writer);
  EXPECT_TRUE(cache.full());
  std::vector<std::int64_t> out;
  for (int i = 0; i < 500; ++i) {
    if (lookup(cache, word(i), out)) {
      EXPECT_EQ(out, ids_of(word(i))) << word(i);
    }
  }
}

TEST(WordCache, SkipsWordsTooLongToCache) {
  WordCache cache(8);
  WordCache::Writer writer;
  const std::string huge(70000, 'a');
  cache.insert(huge, WordCache::hash(huge), std::vector<std::int64_t>{1}, writer);
  std::vector<std::int64_t> out;
  EXPECT_FALSE(lookup(cache, huge, out));
  EXPECT_FALSE(cache.full());
}

TEST(WordCache, ResetEmptiesTheTable) {
  WordCache cache(8);
  WordCache::Writer writer;
  for (int i = 0; i < 1000; ++i) cache.insert(word(i), WordCache::hash(word(i)), ids_of(word(i)), writer);
  ASSERT_TRUE(cache.full());
  cache.reset();
  EXPECT_FALSE(cache.full());
  std::vector<std::int64_t> out;
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(lookup(cache, word(i), out));
  WordCache::Writer fresh;
  cache.insert("again", WordCache::hash("again"), ids_of("again"), fresh);
  ASSERT_TRUE(lookup(cache, "again", out));
  EXPECT_EQ(out, ids_of("again"));
}

// Threads insert overlapping word sets while looking words up; every hit must
// carry the right ids (never a half-written entry), and every word ends up cached.
TEST(WordCache, ConcurrentInsertsAndLookupsAgree) {
  WordCache cache(16);
  constexpr int kThreads = 4;
  constexpr int kWords = 20000;
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      WordCache::Writer writer;
      std::vector<std::int64_t> out;
      for (int k = 0; k < kWords; ++k) {
        const std::string w = word((k * (t + 1) * 7919) % kWords);
        if (lookup(cache, w, out)) {
          if (out != ids_of(w)) ++bad[static_cast<std::size_t>(t)];
        } else {
          cache.insert(w, WordCache::hash(w), ids_of(w), writer);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const int b : bad) EXPECT_EQ(b, 0);
  std::vector<std::int64_t> out;
  for (int k = 0; k < kWords; ++k) {
    const std::string w = word((k * 7919) % kWords);
    ASSERT_TRUE(lookup(cache, w, out)) << w;
    EXPECT_EQ(out, ids_of(w));
  }
}

TEST(WordCacheHolder, KeepsOneTableUntilCleared) {
  WordCacheHolder holder;
  const auto a = holder.acquire();
  EXPECT_EQ(holder.acquire(), a);
  WordCache::Writer writer;
  a->insert("kept", WordCache::hash("kept"), std::vector<std::int64_t>{5}, writer);
  holder.clear();
  const auto b = holder.acquire();
  EXPECT_NE(b, a);
  std::vector<std::int64_t> out;
  // The holder of the old table still sees its entries; the new one is empty.
  EXPECT_TRUE(lookup(*a, "kept", out));
  EXPECT_FALSE(lookup(*b, "kept", out));
}

TEST(WordCacheHolder, RecyclesATableNobodyHolds) {
  WordCacheHolder holder;
  const WordCache* first = nullptr;
  {
    const auto a = holder.acquire();
    first = a.get();
    WordCache::Writer writer;
    a->insert("gone", WordCache::hash("gone"), std::vector<std::int64_t>{5}, writer);
  }
  holder.clear();
  const auto b = holder.acquire();
  EXPECT_EQ(b.get(), first);  // the same memory, emptied
  std::vector<std::int64_t> out;
  EXPECT_FALSE(lookup(*b, "gone", out));
}

}  // namespace
}  // namespace kiln::text::detail
