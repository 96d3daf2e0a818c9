#pragma once
// Legend: a framed box naming each series or class next to a sample of its mark.
#include <array>
#include <string>
#include <vector>

#include "kiln/plot/canvas.h"
#include "kiln/plot/geometry.h"
#include "kiln/plot/palette.h"

namespace kiln::plot::detail {

enum class LegendMark { line, dot };

struct LegendEntry {
  std::string name;
  Color color;
  LegendMark mark = LegendMark::line;
  bool dashed = false;
};

/// The box's size for `entries` (one row each).
TextSize legend_size(const Canvas& canvas, const std::vector<LegendEntry>& entries);

/// Boxes of `size` in the plot area's four corners, inset a little:
/// top right, top left, bottom right, bottom left (the order they are preferred in).
std::array<Rect, 4> legend_corners(const Rect& plot, TextSize size);

/// The box of `size` just right of the plot area, top-aligned with it.
Rect legend_beside(const Rect& plot, TextSize size);

/// The gap legend_beside leaves between the plot area and the box.
inline constexpr double kLegendGap = 12.0;

void draw_legend(const Canvas& canvas, const std::vector<LegendEntry>& entries, const Rect& box);

}  // namespace kiln::plot::detail
