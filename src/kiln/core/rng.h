#pragma once
// Counter-based random numbers (Philox 4x32-10): element i of a draw depends
// only on (seed, offset + i), so results are identical for any thread count
// and on any device.
#include <array>
#include <cstdint>

namespace kiln {

/// Philox4x32 with 10 rounds: four 32-bit outputs for one 128-bit counter.
std::array<std::uint32_t, 4> philox4x32(std::uint64_t counter_lo, std::uint64_t counter_hi, std::uint64_t key);

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
float philox_uniform(std::uint64_t seed, std::uint64_t index);
/// The i-th standard normal of stream (seed, offset) (Box–Muller on one counter).
double philox_normal(std::uint64_t seed, std::uint64_t index);

}  // namespace kiln
