#include "kiln/core/rng.h"

#include <cmath>
#include <numbers>

namespace kiln {

std::array<std::uint32_t, 4> philox4x32(std::uint64_t counter_lo, std::uint64_t counter_hi, std::uint64_t key) {
  constexpr std::uint32_t kMul0 = 0xD2511F53U, kMul1 = 0xCD9E8D57U;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9U, kWeyl1 = 0xBB67AE85U;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter_lo), c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(counter_hi), c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
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

float philox_uniform(std::uint64_t seed, std::uint64_t index) {
  const auto r = philox4x32(index, 0, seed);
  return static_cast<float>(r[0] >> 8) * (1.0F / 16777216.0F);
}

double philox_normal(std::uint64_t seed, std::uint64_t index) {
  const auto r = philox4x32(index, 1, seed);
  const std::uint64_t a = (static_cast<std::uint64_t>(r[0]) << 21) ^ r[1];
  const std::uint64_t b = (static_cast<std::uint64_t>(r[2]) << 21) ^ r[3];
  const double u1 = (static_cast<double>(a & ((1ULL << 53) - 1)) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(b & ((1ULL << 53) - 1)) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t Generator::next_below(std::uint64_t n) {
  const auto r = philox4x32(reserve(1), 2, seed_);
  const std::uint64_t v = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
  return n == 0 ? 0 : v % n;
}

double Generator::next_double() {
  const auto r = philox4x32(reserve(1), 3, seed_);
  const std::uint64_t v = (static_cast<std::uint64_t>(r[0]) << 21) ^ r[1];
  return static_cast<double>(v & ((1ULL << 53) - 1)) * 0x1.0p-53;
}

}  // namespace kiln
