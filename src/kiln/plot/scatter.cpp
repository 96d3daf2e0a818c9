#include "kiln/plot/scatter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "kiln/core/error.h"
#include "kiln/plot/canvas.h"
#include "kiln/plot/frame.h"
#include "kiln/plot/legend.h"
#include "kiln/plot/palette.h"

namespace kiln::plot {

void scatter(const std::filesystem::path& path, const ScatterOptions& options, const std::vector<double>& xs,
             const std::vector<double>& ys, const std::vector<int>& labels, const std::vector<std::string>& class_names) {
  const std::string context = "plot::scatter '" + path.string() + "'";
  if (xs.size() != ys.size() || xs.size() != labels.size()) {
    throw Error(context + ": " + std::to_string(xs.size()) + " x values, " + std::to_string(ys.size()) +
                " y values and " + std::to_string(labels.size()) + " labels; they must be the same length");
  }
  if (xs.empty()) throw Error(context + ": no points to draw");
  if (class_names.empty() || class_names.size() > kPalette.size()) {
    throw Error(context + ": " + std::to_string(class_names.size()) + " class names; between 1 and " +
                std::to_string(kPalette.size()) + " classes can be told apart by colour");
  }
  if (!(options.point_radius > 0) || !std::isfinite(options.point_radius)) {
    throw Error(context + ": point_radius " + std::to_string(options.point_radius) + " must be a positive number");
  }
  if (!(options.point_alpha > 0 && options.point_alpha <= 1)) {
    throw Error(context + ": point_alpha " + std::to_string(options.point_alpha) + " must be in (0, 1]");
  }
  const int classes = static_cast<int>(class_names.size());
  detail::DataBounds bounds{.x_lo = std::numeric_limits<double>::infinity(),
                            .x_hi = -std::numeric_limits<double>::infinity(),
                            .y_lo = std::numeric_limits<double>::infinity(),
                            .y_hi = -std::numeric_limits<double>::infinity(),
                            .x_whole_numbers = false,
                            .log_y = false};
  bool any = false;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw Error(context + ": point " + std::to_string(i) + " has label " + std::to_string(labels[i]) +
                  ", outside [0, " + std::to_string(classes) + ") for the " + std::to_string(classes) +
                  " class names given");
    }
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    any = true;
    bounds.x_lo = std::min(bounds.x_lo, xs[i]);
    bounds.x_hi = std::max(bounds.x_hi, xs[i]);
    bounds.y_lo = std::min(bounds.y_lo, ys[i]);
    bounds.y_hi = std::max(bounds.y_hi, ys[i]);
  }
  if (!any) throw Error(context + ": no point can be drawn: every point has a NaN or infinite coordinate");

  const detail::Canvas canvas(options.width, options.height, "scatter", path);
  std::vector<detail::LegendEntry> legend;
  for (int c = 0; c < classes; ++c) {
    legend.push_back({.name = class_names[static_cast<std::size_t>(c)],
                      .color = palette_color(static_cast<std::size_t>(c)),
                      .mark = detail::LegendMark::dot,
                      .dashed = false});
  }
  // Points fill the plot area, so the legend always goes beside it.
  const auto legend_size = detail::legend_size(canvas, legend);
  const detail::Frame frame(canvas, {options.title, options.x_label, options.y_label}, bounds,
                            legend_size.width + detail::kLegendGap);
  frame.draw(canvas);

  cairo_t* cr = canvas.cr();
  cairo_save(cr);
  const detail::Rect& plot = frame.plot();
  cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
  cairo_clip(cr);
  // One fill per point: overlapping dots of the same class then darken each
  // other, which shows density (a single path would paint the union once).
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    canvas.set_color(palette_color(static_cast<std::size_t>(labels[i])), options.point_alpha);
    cairo_arc(cr, frame.x_pixel(xs[i]), frame.y_pixel(ys[i]), options.point_radius, 0.0, 2 * std::numbers::pi);
    cairo_fill(cr);
  }
  cairo_restore(cr);
  detail::draw_legend(canvas, legend, detail::legend_beside(plot, legend_size));
  canvas.save_png();
}

}  // namespace kiln::plot
