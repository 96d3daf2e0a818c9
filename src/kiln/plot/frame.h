#pragma once
// Frame: the layout and furniture every chart shares: title, axis labels,
// tick labels, grid and the plot area's border, and the mapping from data
// values to pixels. Margins are measured from the text, so labels are neither
// clipped nor overlapping; tick counts shrink until the labels fit.
#include <string>

#include "kiln/plot/axis_scale.h"
#include "kiln/plot/canvas.h"
#include "kiln/plot/geometry.h"

namespace kiln::plot::detail {

struct FrameText {
  std::string title;
  std::string x_label;
  std::string y_label;
};

/// The data to show: finite bounds (lo <= hi; equal is fine). On a log y axis the y bounds are > 0.
struct DataBounds {
  double x_lo = 0.0, x_hi = 1.0, y_lo = 0.0, y_hi = 1.0;
  bool x_whole_numbers = false;  ///< all x are integers (epochs): no ticks between them
  bool log_y = false;
};

class Frame {
 public:
  /// Lays the chart out on `canvas`, leaving `reserve_right` pixels beside the
  /// plot area (for a legend). Throws kiln::Error (the canvas's context) when
  /// the image is too small for its text.
  Frame(const Canvas& canvas, const FrameText& text, const DataBounds& bounds, double reserve_right);

  /// The plot area, in pixels.
  const Rect& plot() const { return plot_; }
  double x_pixel(double x) const { return plot_.x + x_.fraction(x) * plot_.w; }
  double y_pixel(double y) const { return plot_.bottom() - y_.fraction(y) * plot_.h; }

  /// Draws the title, grid, border, ticks and labels (before the data, so the data lies on the grid).
  void draw(const Canvas& canvas) const;

 private:
  FrameText text_;
  Rect plot_;
  AxisScale x_;
  AxisScale y_;
};

}  // namespace kiln::plot::detail
