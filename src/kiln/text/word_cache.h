#pragma once
// A thread-safe cache from a pre-token's bytes to its BPE token ids. Real text
// repeats a small set of words, so after warm-up almost every word is a lookup.
// Each shard is a flat open-addressing table whose keys and values live in two
// arenas (no allocation per entry); shards are locked independently so batch
// encoding on several threads rarely contends.
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::text::detail {

class WordCache {
 public:
  /// Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool lookup(std::string_view word, std::uint64_t hash, std::vector<std::int64_t>& out) {
    Shard& shard = shard_of(hash);
    const std::lock_guard lock(shard.mutex);
    const Entry* e = shard.find(word, hash);
    if (e == nullptr) return false;
    const std::uint32_t* ids = shard.ids.data() + e->ids_offset;
    out.insert(out.end(), ids, ids + e->ids_length);
    return true;
  }

  void insert(std::string_view word, std::uint64_t hash, const std::vector<std::int64_t>& ids) {
    Shard& shard = shard_of(hash);
    const std::lock_guard lock(shard.mutex);
    shard.insert(word, hash, ids);
  }

  void clear() {
    for (Shard& s : shards_) {
      const std::lock_guard lock(s.mutex);
      s.reset();
    }
  }

  static std::uint64_t hash(std::string_view word) { return std::hash<std::string_view>{}(word); }

 private:
  struct Entry {
    std::uint64_t hash = 0;
    std::uint32_t key_offset = 0;
    std::uint32_t key_length = 0;  // 0 marks an empty slot (words are never empty)
    std::uint32_t ids_offset = 0;
    std::uint32_t ids_length = 0;
  };

  struct Shard {
    std::mutex mutex;
    std::vector<Entry> slots = std::vector<Entry>(kInitialSlots);
    std::string keys;
    std::vector<std::uint32_t> ids;
    std::size_t size = 0;

    const Entry* find(std::string_view word, std::uint64_t h) const {
      const std::size_t mask = slots.size() - 1;
      for (std::size_t i = (h >> 20) & mask;; i = (i + 1) & mask) {
        const Entry& e = slots[i];
        if (e.key_length == 0) return nullptr;
        if (e.hash == h && e.key_length == word.size() &&
            std::memcmp(keys.data() + e.key_offset, word.data(), word.size()) == 0) {
          return &e;
        }
      }
    }

    void place(const Entry& entry) {
      const std::size_t mask = slots.size() - 1;
      std::size_t i = (entry.hash >> 20) & mask;
      while (slots[i].key_length != 0) i = (i + 1) & mask;
      slots[i] = entry;
    }

    void reset() {
      slots.assign(kInitialSlots, Entry{});
      keys.clear();
      ids.clear();
      size = 0;
    }

    void insert(std::string_view word, std::uint64_t h, const std::vector<std::int64_t>& word_ids) {
      if (word.empty() || word.size() > kMaxKeyBytes / 16 || find(word, h) != nullptr) return;
      // Bounded memory: a shard that grows too large starts over (rare; the
      // vocabulary of real text is far smaller than the limits).
      if (size + 1 > kMaxEntries || keys.size() + word.size() > kMaxKeyBytes) reset();
      if ((size + 1) * 2 > slots.size()) {
        std::vector<Entry> old(slots.size() * 2);
        old.swap(slots);
        for (const Entry& e : old) {
          if (e.key_length != 0) place(e);
        }
      }
      Entry e;
      e.hash = h;
      e.key_offset = static_cast<std::uint32_t>(keys.size());
      e.key_length = static_cast<std::uint32_t>(word.size());
      e.ids_offset = static_cast<std::uint32_t>(ids.size());
      e.ids_length = static_cast<std::uint32_t>(word_ids.size());
      keys.append(word);
      for (const std::int64_t id : word_ids) ids.push_back(static_cast<std::uint32_t>(id));
      place(e);
      ++size;
    }
  };

  Shard& shard_of(std::uint64_t hash) { return shards_[hash % kShards]; }

  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kInitialSlots = 256;
  static constexpr std::size_t kMaxEntries = 1 << 16;
  static constexpr std::size_t kMaxKeyBytes = std::size_t{1} << 24;
  std::array<Shard, kShards> shards_;
};

}  // namespace kiln::text::detail
