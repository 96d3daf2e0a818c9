#pragma once
// Counter-based random numbers (Philox 4x32-10): element i of a draw depends
// only on (seed, offset + i), so results are identical for any thread count
// and on any device.
#include <array>
#include <cstdint>

namespace kiln {

/// Philox4x32 with 10 rounds: four 32-bit outputs for one 128-bit counter.
/// Inline so that fill loops (dropout masks) vectorise instead of paying an
/// out-of-line call per element.
inline std::array<std::uint32_t, 4> philox4x32(std::uint64_t counter_lo, std::uint64_t counter_hi,
                                               std::uint64_t key) {
  constexpr std::uint32_t kMul0 = 0xD2511F53U, kMul1 = 0xCD9E8D57U;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9U, kWeyl1 = 0xBB67AE85U;
  auto c0 = static_cast<std::uint32_t>(counter_lo), c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  auto c2 = static_cast<std::uint32_t>(counter_hi), c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  auto k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

/// A seed plus a running offset; each draw advances the offset by the number
/// of values it consumed so successive draws never overlap.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  /// Returns the offset for a draw of n values and moves past them.
  std::uint64_t reserve(std::uint64_t n) {
    const std::uint64_t start = offset_;
    offset_ += n;
    return start;
  }
  /// Restores a state saved from seed() and offset() (checkpoints): the
  /// following draws continue exactly where the saved generator stood.
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  void manual_seed(std::uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  /// One uniform integer in [0, n) (host-side helper for shuffles).
  std::uint64_t next_below(std::uint64_t n);
  /// One uniform double in [0, 1).
  double next_double();

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

/// The i-th uniform float in [0, 1) of stream (seed, offset): uses 24 random bits.
inline float philox_uniform(std::uint64_t seed, std::uint64_t index) {
  const auto r = philox4x32(index, 0, seed);
  return static_cast<float>(r[0] >> 8) * (1.0F / 16777216.0F);
}
/// The i-th standard normal of stream (seed, offset) (Box–Muller on one counter).
double philox_normal(std::uint64_t seed, std::uint64_t index);

}  // namespace kiln
