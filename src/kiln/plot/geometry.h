#pragma once
// A pixel rectangle, shared by the frame and the legend.

namespace kiln::plot::detail {

struct Rect {
  double x = 0.0, y = 0.0, w = 0.0, h = 0.0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool contains(double px, double py) const { return px >= x && px <= right() && py >= y && py <= bottom(); }
};

}  // namespace kiln::plot::detail
