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
  void insert_or_assign(std::uint32_t a, std::uint32_t b, Merge m) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    Slot& s = probe(key(a, b));
    if (!s.used) ++size_;
    s = {key(a, b), m, true};
  }

  const Merge* find(std::uint32_t a, std::uint32_t b) const {
    const std::uint64_t k = key(a, b);
    for (std::size_t i = bucket(k);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == k) return &s.merge;
    }
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key = 0;
    Merge merge{};
    bool used = false;
  };

  static std::uint64_t key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }
  std::size_t bucket(std::uint64_t k) const {
    return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  Slot& probe(std::uint64_t k) {
    for (std::size_t i = bucket(k);; i = (i + 1) & mask_) {
      if (!slots_[i].used || slots_[i].key == k) return slots_[i];
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
      if (s.used) probe(s.key) = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

}  // namespace kiln::text::detail
