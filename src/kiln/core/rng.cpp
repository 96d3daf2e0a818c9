#include "kiln/core/rng.h"

#include <cmath>
#include <numbers>

namespace kiln {

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
