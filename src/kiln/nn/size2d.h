#pragma once
// Size2d: a (height, width) pair for layer options that also takes a single
// number for both, as PyTorch's `kernel_size=3` does: `.kernel_size = 3` or
// `.kernel_size = {3, 5}`.
#include <cstdint>
#include <string>

namespace kiln::nn {

struct Size2d {
  std::int64_t h = 0;
  std::int64_t w = 0;

  Size2d() = default;
  // Implicit on purpose: `.stride = 2` reads as (2, 2).
  Size2d(std::int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor)
  Size2d(std::int64_t height, std::int64_t width) : h(height), w(width) {}

  bool operator==(const Size2d&) const = default;
  /// "(3, 3)", as PyTorch prints a pair.
  std::string str() const { return "(" + std::to_string(h) + ", " + std::to_string(w) + ")"; }
};

}  // namespace kiln::nn
