#include "kiln/plot/legend.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kiln::plot::detail {
namespace {

const TextStyle kLegendText{.size = 12.0, .bold = false, .color = {0x22, 0x22, 0x22}};
constexpr double kPadding = 8.0;      // inside the box's border
constexpr double kSwatchWidth = 24.0;  // sample line (or the space a dot is centred in)
constexpr double kSwatchGap = 6.0;     // between the sample and the name
constexpr double kRowSpacing = 1.35;   // row height in units of the font height
constexpr double kCornerInset = 8.0;

}  // namespace

TextSize legend_size(const Canvas& canvas, const std::vector<LegendEntry>& entries) {
  double widest = 0.0, row = 0.0;
  for (const auto& e : entries) {
    const TextSize t = canvas.text_size(e.name, kLegendText);
    widest = std::max(widest, t.width);
    row = t.height * kRowSpacing;
  }
  return {2 * kPadding + kSwatchWidth + kSwatchGap + widest, 2 * kPadding + row * static_cast<double>(entries.size())};
}

std::array<Rect, 4> legend_corners(const Rect& plot, TextSize size) {
  const double left = plot.x + kCornerInset, right = plot.right() - kCornerInset - size.width;
  const double top = plot.y + kCornerInset, bottom = plot.bottom() - kCornerInset - size.height;
  return {Rect{right, top, size.width, size.height}, Rect{left, top, size.width, size.height},
          Rect{right, bottom, size.width, size.height}, Rect{left, bottom, size.width, size.height}};
}

Rect legend_beside(const Rect& plot, TextSize size) {
  return {plot.right() + kLegendGap, plot.y, size.width, size.height};
}

void draw_legend(const Canvas& canvas, const std::vector<LegendEntry>& entries, const Rect& box) {
  cairo_t* cr = canvas.cr();
  // Snap to half pixels so the 1-pixel border is crisp.
  const double bx = std::floor(box.x) + 0.5, by = std::floor(box.y) + 0.5;
  cairo_rectangle(cr, bx, by, std::round(box.w), std::round(box.h));
  canvas.set_color({0xff, 0xff, 0xff}, 0.9);
  cairo_fill_preserve(cr);
  canvas.set_color({0xbb, 0xbb, 0xbb});
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);

  const double row = canvas.text_size("Xg", kLegendText).height * kRowSpacing;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double cy = box.y + kPadding + row * (static_cast<double>(i) + 0.5);
    const double sx = box.x + kPadding;
    canvas.set_color(e.color);
    if (e.mark == LegendMark::line) {
      cairo_set_line_width(cr, 2.5);
      if (e.dashed) {
        const double dash[] = {6.0, 4.0};
        cairo_set_dash(cr, dash, 2, 0.0);
      }
      cairo_move_to(cr, sx, cy);
      cairo_line_to(cr, sx + kSwatchWidth, cy);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0.0);
    } else {
      cairo_arc(cr, sx + kSwatchWidth / 2, cy, 4.5, 0.0, 2 * std::numbers::pi);
      cairo_fill(cr);
    }
    canvas.draw_text(e.name, sx + kSwatchWidth + kSwatchGap, cy, kLegendText, HAlign::left, VAlign::middle);
  }
}

}  // namespace kiln::plot::detail
