#pragma once
// Helpers for the plot tests: a PNG read back with cairo (sizes, pixels) and a file count.
#include <cairo.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "kiln/plot/palette.h"

namespace kiln::test {

class Png {
 public:
  explicit Png(const std::filesystem::path& path)
      : surface_(cairo_image_surface_create_from_png(path.c_str()), cairo_surface_destroy) {
    const cairo_status_t status = cairo_surface_status(surface_.get());
    if (status != CAIRO_STATUS_SUCCESS) {
      throw std::runtime_error("cannot read PNG " + path.string() + ": " + cairo_status_to_string(status));
    }
    cairo_surface_flush(surface_.get());
  }
  int width() const { return cairo_image_surface_get_width(surface_.get()); }
  int height() const { return cairo_image_surface_get_height(surface_.get()); }

  /// The colour at (x, y). Plots are opaque, so premultiplied ARGB32 reads the same as RGB24.
  plot::Color at(int x, int y) const {
    const unsigned char* data = cairo_image_surface_get_data(surface_.get());
    const int stride = cairo_image_surface_get_stride(surface_.get());
    const std::uint32_t p = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride)[x];
    return {static_cast<std::uint8_t>(p >> 16), static_cast<std::uint8_t>(p >> 8), static_cast<std::uint8_t>(p)};
  }

  /// Pixels in [x0, x1) x [y0, y1) (clipped to the image) for which `pred` holds.
  int count(const std::function<bool(plot::Color)>& pred, int x0, int y0, int x1, int y1) const {
    int n = 0;
    for (int y = std::max(0, y0); y < std::min(height(), y1); ++y) {
      for (int x = std::max(0, x0); x < std::min(width(), x1); ++x) n += pred(at(x, y)) ? 1 : 0;
    }
    return n;
  }
  int count(const std::function<bool(plot::Color)>& pred) const { return count(pred, 0, 0, width(), height()); }

 private:
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface_;
};

/// Within `tol` of `c` in every channel.
inline std::function<bool(plot::Color)> near_color(plot::Color c, int tol = 0) {
  return [c, tol](plot::Color p) {
    return std::abs(p.r - c.r) <= tol && std::abs(p.g - c.g) <= tol && std::abs(p.b - c.b) <= tol;
  };
}

inline bool is_white(plot::Color p) { return p == plot::Color{0xff, 0xff, 0xff}; }

/// Entries in `dir` (a failed or finished write must leave no temporary file).
inline int count_files(const std::filesystem::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace kiln::test
