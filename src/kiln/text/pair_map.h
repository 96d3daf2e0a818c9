#pragma once
// Open-addressing hash map from a pair of token ids to the merge it triggers.
// BPE looks a pair up for every adjacent symbol pair of every new word, so this
// is a flat table with linear probing instead of a node-based map.
#include <cstdint>
#include <vector>

namespace kiln::text::detail {

struct Merge {
  std::uint32_t rank;    // lower merges first
  std::uint32_t new_id;  // id of the merged token
};

class PairMap {
 public:
  PairMap() { rehash(16); }

  /// Inserts or overwrites (a later duplicate merge wins, as in GPT-2 and Hugging Face).
  /// Ids must be below kEmpty.
  void insert_or_assign(std::uint32_t a, std::uint32_t b, Merge m) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    Slot& s = probe(a, b);
    if (s.a == kEmpty) ++size_;
    s = {a, b, m};
  }

  const Merge* find(std::uint32_t a, std::uint32_t b) const {
    for (std::size_t i = bucket(a, b);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.a == a && s.b == b) return &s.merge;
      if (s.a == kEmpty) return nullptr;
    }
  }

  std::size_t size() const { return size_; }

  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;

 private:
  // 16 bytes, so four slots share a cache line and none straddles two: the
  // table (about 2 MB for GPT-2) does not fit in a core's cache, and a merge
  // lookup's time is mostly the wait for its line.
  struct Slot {
    std::uint32_t a = kEmpty;
    std::uint32_t b = 0;
    Merge merge{};
  };
  static_assert(sizeof(Slot) == 16);

  std::size_t bucket(std::uint32_t a, std::uint32_t b) const {
    const std::uint64_t k = (std::uint64_t{a} << 32) | b;
    return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  Slot& probe(std::uint32_t a, std::uint32_t b) {
    for (std::size_t i = bucket(a, b);; i = (i + 1) & mask_) {
      if (slots_[i].a == kEmpty || (slots_[i].a == a && slots_[i].b == b)) return slots_[i];
    }
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    int bits = 0;
    while ((std::size_t{1} << bits) < capacity) ++bits;
    shift_ = 64 - bits;
    for (const Slot& s : old) {
      if (s.a != kEmpty) probe(s.a, s.b) = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace kiln::text::detail
