#pragma once
// Canvas: one cairo image surface and its drawing context, with the few text
// and pixel helpers the charts share, and atomic PNG output. Internal to
// kiln/plot; callers use line_chart.h, scatter.h and image_grid.h.
#include <cairo.h>

#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "kiln/plot/palette.h"

namespace kiln::plot::detail {

enum class HAlign { left, center, right };
/// top/bottom align the font's ascent/descent (not the glyphs'), so labels in a row line up.
enum class VAlign { top, middle, bottom };

struct TextStyle {
  double size = 12.0;  ///< pixels
  bool bold = false;
  Color color{0x33, 0x33, 0x33};
};

struct TextSize {
  double width = 0.0;   ///< advance width
  double height = 0.0;  ///< font ascent + descent
};

class Canvas {
 public:
  /// A white `width` x `height` image that save_png will write to `path`.
  /// `function` ("scatter") names the plotting call in errors, which begin
  /// "plot::scatter '<path>': ". Throws kiln::Error when the size is outside
  /// [1, 32767] (cairo's limit), when the path's directory does not exist or is
  /// not a directory (checked now, before any drawing), or when cairo fails.
  Canvas(int width, int height, const std::string& function, std::filesystem::path path);

  int width() const { return width_; }
  int height() const { return height_; }
  /// The drawing context, for paths; colours go through set_color.
  cairo_t* cr() const { return cr_.get(); }
  /// "plot::scatter '<path>'", the start of every error about this plot.
  const std::string& context() const { return context_; }

  void set_color(Color c, double alpha = 1.0) const;
  /// The font the plots use ("DejaVu Sans") at `style`.
  void set_font(const TextStyle& style) const;
  TextSize text_size(const std::string& text, const TextStyle& style) const;
  /// Draws `text` anchored at (x, y). `vertical` turns it 90 degrees
  /// anticlockwise (reading upwards), with the alignment in the turned frame.
  void draw_text(const std::string& text, double x, double y, const TextStyle& style, HAlign h, VAlign v,
                 bool vertical = false) const;

  /// Writes a `w` x `h` row-major image at pixel (x, y), each pixel as a
  /// `scale` x `scale` block (nearest neighbour). The block must fit the canvas.
  void blit(int x, int y, int w, int h, int scale, std::span<const Color> pixels) const;

  /// Encodes the image as PNG and writes it to the path atomically (temporary
  /// file in the same directory, then rename). Checks every cairo status.
  void save_png() const;

 private:
  struct SurfaceDeleter {
    void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
  };
  struct ContextDeleter {
    void operator()(cairo_t* c) const { cairo_destroy(c); }
  };
  /// Throws kiln::Error naming `step` and cairo's message when the context or surface failed.
  void check(const char* step) const;

  int width_;
  int height_;
  std::string function_;
  std::filesystem::path path_;
  std::string context_;
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface_;
  std::unique_ptr<cairo_t, ContextDeleter> cr_;
};

}  // namespace kiln::plot::detail
