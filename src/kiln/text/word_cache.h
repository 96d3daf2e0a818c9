#pragma once
// The cache from a pre-token's bytes to its BPE token ids. Real text repeats a
// small set of words, so after warm-up almost every word is a lookup.
//
// Batch encoding runs on several threads, and the cache must be shared by them:
// with one private cache per thread every distinct word is merged once per
// thread, and with a locked shared cache the threads queue on the lock for
// every word. So the table is lock-free and insert-only: a writer first writes
// the word and its ids into a bump-allocated arena that never moves, then
// publishes them with one compare-and-swap of an empty 8-byte slot (a hash
// fragment and the entry's place); readers acquire the slot and only then read
// the entry. Entries are never changed or removed, so a reader never sees a
// half-written one. Slots are 8 bytes so that the table of a large corpus
// (100k distinct words in the 4.8 MB of fortunes) stays about 2 MB: lookups
// are bound by memory latency more than by instructions, so the table's size
// next to a core's 2 MB L2 sets both the speed and how well threads scale.
// A full table stops taking words; WordCacheHolder then swaps in a fresh one
// while encodes already running keep the table they started with.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace kiln::text::detail {

class WordCache {
 public:
  /// What one thread keeps between its inserts: claim tickets and arena space
  /// taken from the shared counters in batches, so that threads warming up the
  /// cache together do not bounce those counters' cache lines on every word.
  /// A Writer belongs to one table; Writer{} for each new table.
  struct Writer {
    std::size_t tickets = 0;
    unsigned char* chunk = nullptr;
    std::size_t chunk_left = 0;
  };

  /// A table of 2^slot_bits slots that takes up to half as many words and
  /// `arena_bytes` of words and ids.
  explicit WordCache(unsigned slot_bits = 18, std::size_t arena_bytes = std::size_t{64} << 20);
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  /// Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool lookup(std::string_view word, std::uint64_t hash, std::vector<std::int64_t>& out) const;
  /// Adds `word` unless it is cached already, being added by another thread,
  /// too long to cache, or the table is full. Safe to call from any thread,
  /// each with its own Writer.
  void insert(std::string_view word, std::uint64_t hash, std::span<const std::int64_t> ids, Writer& writer);
  /// Empties the table; only for a table no other thread holds.
  void reset();
  /// Whether the table has stopped taking words.
  bool full() const { return full_.load(std::memory_order_relaxed); }

  static std::uint64_t hash(std::string_view word) { return std::hash<std::string_view>{}(word); }

 private:
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };

  // A slot is 0 when empty, else (hash >> 32) << 32 | (arena offset / 4 + 1);
  // it is only accessed atomically (std::atomic_ref). An entry is a 4-byte
  // header (word length, id count: 16 bits each), the word padded to 4 bytes,
  // then the ids as 32-bit values. calloc, not a zeroing loop: a fresh table
  // costs no serial pass, its pages are zeroed on first touch by whichever
  // worker touches them.
  std::uint64_t& slot(std::size_t i) const { return slots_.get()[i]; }
  unsigned char* allocate(std::size_t bytes, Writer& writer);
  bool holds(std::uint64_t slot_value, std::uint64_t hash, std::string_view word) const;

  std::size_t mask_;
  std::size_t max_words_;
  std::size_t arena_bytes_;
  std::unique_ptr<std::uint64_t[], FreeDeleter> slots_;
  std::unique_ptr<unsigned char[]> arena_;  // uninitialised: only used bytes are touched
  std::atomic<std::size_t> arena_used_{0};
  std::atomic<std::size_t> claimed_{0};
  std::atomic<bool> full_{false};
};

/// Owns the current WordCache of a tokenizer. acquire() is what an encode call
/// holds for its duration; clear() and a full table make the next acquire()
/// start an empty table. Both are safe to call from any thread.
///
/// A table nobody holds any more is emptied and kept for the next acquire()
/// instead of freed: a fresh table's pages are faulted in by the encoding
/// threads, and on a virtual machine concurrent page faults serialise badly
/// (2 threads encoding a fresh table scaled 1.44x, a recycled one 1.88x).
class WordCacheHolder {
 public:
  std::shared_ptr<WordCache> acquire() const;
  void clear() const;

 private:
  void recycle(std::shared_ptr<WordCache> table) const;

  mutable std::atomic<std::shared_ptr<WordCache>> table_;
  mutable std::mutex spare_mutex_;
  mutable std::shared_ptr<WordCache> spare_;  // an emptied table, guarded by spare_mutex_
};

}  // namespace kiln::text::detail
