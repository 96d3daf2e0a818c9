#pragma once
// The colours plots draw series and classes in.
#include <array>
#include <cstddef>
#include <cstdint>

namespace kiln::plot {

/// An opaque 8-bit sRGB colour.
struct Color {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Color&, const Color&) = default;
};

/// Tableau 10 (2016): ten colours chosen to stay distinguishable for the common
/// forms of colour blindness, in the order series and classes receive them.
inline constexpr std::array<Color, 10> kPalette{{
    {0x4e, 0x79, 0xa7},  // blue
    {0xf2, 0x8e, 0x2b},  // orange
    {0xe1, 0x57, 0x59},  // red
    {0x76, 0xb7, 0xb2},  // teal
    {0x59, 0xa1, 0x4f},  // green
    {0xed, 0xc9, 0x48},  // yellow
    {0xb0, 0x7a, 0xa1},  // purple
    {0xff, 0x9d, 0xa7},  // pink
    {0x9c, 0x75, 0x5f},  // brown
    {0xba, 0xb0, 0xac},  // grey
}};

/// The palette colour for series or class `i` (wrapping after ten).
constexpr Color palette_color(std::size_t i) { return kPalette[i % kPalette.size()]; }

}  // namespace kiln::plot
