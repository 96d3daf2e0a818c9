#include "kiln/plot/line_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "kiln/core/error.h"
#include "kiln/plot/canvas.h"
#include "kiln/plot/frame.h"
#include "kiln/plot/legend.h"

namespace kiln::plot {
namespace {

using detail::Canvas;
using detail::Frame;
using detail::LegendEntry;
using detail::Rect;

constexpr std::size_t kAutomaticMarkerLimit = 50;

std::string series_label(const Series& s, std::size_t i) {
  return "series " + (s.name.empty() ? "" : "'" + s.name + "' ") + "(#" + std::to_string(i) + ")";
}

/// The style a series is drawn with, defaults filled in.
struct ResolvedStyle {
  Color color;
  double line_width;
  bool dashed;
  bool markers;  // on every point (isolated points get one regardless)
};

ResolvedStyle resolve(const Series& s, std::size_t i) {
  const bool default_color = !s.style.color.has_value();
  const bool markers = s.style.markers == Markers::always ||
                       (s.style.markers == Markers::automatic && s.x.size() <= kAutomaticMarkerLimit);
  return {s.style.color.value_or(palette_color(i)), s.style.line_width,
          s.style.dashed || (default_color && i >= kPalette.size()), markers};
}

/// One series' points in pixels; NaN marks a gap (a point that cannot be drawn).
std::vector<std::pair<double, double>> to_pixels(const Series& s, const Frame& frame, bool log_y) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<double, double>> out(s.x.size(), {nan, nan});
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!log_y || s.y[i] > 0)) {
      out[i] = {frame.x_pixel(s.x[i]), frame.y_pixel(s.y[i])};
    }
  }
  return out;
}

bool drawable(const std::pair<double, double>& p) { return !std::isnan(p.first); }

/// How much of the curves a legend box would hide: samples every 2 pixels along
/// each segment (and each isolated point) that fall inside the box, with a small margin.
std::size_t covered_samples(const std::vector<std::vector<std::pair<double, double>>>& curves, const Rect& box) {
  const Rect near{box.x - 4, box.y - 4, box.w + 8, box.h + 8};
  std::size_t hits = 0;
  for (const auto& pts : curves) {
    for (std::size_t i = 0; i < pts.size(); ++i) {
      if (!drawable(pts[i])) continue;
      if (near.contains(pts[i].first, pts[i].second)) ++hits;
      if (i + 1 == pts.size() || !drawable(pts[i + 1])) continue;
      const double dx = pts[i + 1].first - pts[i].first, dy = pts[i + 1].second - pts[i].second;
      const int steps = static_cast<int>(std::hypot(dx, dy) / 2.0);
      for (int k = 1; k < steps; ++k) {
        const double t = static_cast<double>(k) / steps;
        if (near.contains(pts[i].first + t * dx, pts[i].second + t * dy)) ++hits;
      }
    }
  }
  return hits;
}

void draw_curve(const Canvas& canvas, const std::vector<std::pair<double, double>>& pts, const ResolvedStyle& st) {
  cairo_t* cr = canvas.cr();
  canvas.set_color(st.color);
  cairo_set_line_width(cr, st.line_width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  if (st.dashed) {
    const double dash[] = {4.0 * st.line_width, 3.0 * st.line_width};
    cairo_set_dash(cr, dash, 2, 0.0);
  }
  for (std::size_t i = 0; i < pts.size(); ++i) {
    if (!drawable(pts[i])) continue;
    if (i > 0 && drawable(pts[i - 1])) {
      cairo_line_to(cr, pts[i].first, pts[i].second);
    } else {
      cairo_move_to(cr, pts[i].first, pts[i].second);
    }
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0.0);
  const double radius = st.line_width + 1.5;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    if (!drawable(pts[i])) continue;
    const bool isolated = (i == 0 || !drawable(pts[i - 1])) && (i + 1 == pts.size() || !drawable(pts[i + 1]));
    if (!st.markers && !isolated) continue;
    cairo_new_sub_path(cr);
    cairo_arc(cr, pts[i].first, pts[i].second, radius, 0.0, 2 * std::numbers::pi);
  }
  cairo_fill(cr);
}

}  // namespace

void line_chart(const std::filesystem::path& path, const LineChartOptions& options, const std::vector<Series>& series) {
  const std::string context = "plot::line_chart '" + path.string() + "'";
  if (series.empty()) throw Error(context + ": no series to draw (pass at least one)");
  detail::DataBounds bounds{.x_lo = std::numeric_limits<double>::infinity(),
                            .x_hi = -std::numeric_limits<double>::infinity(),
                            .y_lo = std::numeric_limits<double>::infinity(),
                            .y_hi = -std::numeric_limits<double>::infinity(),
                            .x_whole_numbers = true,
                            .log_y = options.log_y};
  bool any = false;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    if (s.x.size() != s.y.size()) {
      throw Error(context + ": " + series_label(s, i) + " has " + std::to_string(s.x.size()) + " x values but " +
                  std::to_string(s.y.size()) + " y values");
    }
    if (s.x.empty()) throw Error(context + ": " + series_label(s, i) + " has no points");
    if (!(s.style.line_width > 0) || !std::isfinite(s.style.line_width)) {
      throw Error(context + ": " + series_label(s, i) + " has line_width " + std::to_string(s.style.line_width) +
                  "; it must be a positive number of pixels");
    }
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      const double x = s.x[k], y = s.y[k];
      if (!std::isfinite(x) || !std::isfinite(y) || (options.log_y && y <= 0)) continue;
      any = true;
      bounds.x_lo = std::min(bounds.x_lo, x);
      bounds.x_hi = std::max(bounds.x_hi, x);
      bounds.y_lo = std::min(bounds.y_lo, y);
      bounds.y_hi = std::max(bounds.y_hi, y);
      bounds.x_whole_numbers = bounds.x_whole_numbers && std::floor(x) == x;
    }
  }
  if (!any) {
    throw Error(context + ": no point can be drawn: every x or y is NaN or infinite" +
                (options.log_y ? std::string(", or y <= 0 on the log axis") : std::string()));
  }

  const Canvas canvas(options.width, options.height, "line_chart", path);
  const detail::FrameText text{options.title, options.x_label, options.y_label};
  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (series[i].name.empty()) continue;
    const ResolvedStyle st = resolve(series[i], i);
    legend.push_back({.name = series[i].name, .color = st.color, .mark = detail::LegendMark::line, .dashed = st.dashed});
  }
  const auto legend_size = detail::legend_size(canvas, legend);

  Frame frame(canvas, text, bounds, 0.0);
  auto pixel_curves = [&](const Frame& f) {
    std::vector<std::vector<std::pair<double, double>>> curves;
    for (const Series& s : series) curves.push_back(to_pixels(s, f, options.log_y));
    return curves;
  };
  auto curves = pixel_curves(frame);
  Rect legend_box;
  if (!legend.empty()) {
    // The first corner that hides nothing, else the legend moves beside the plot area.
    const auto corners = detail::legend_corners(frame.plot(), legend_size);
    const auto free_corner = std::find_if(corners.begin(), corners.end(),
                                          [&](const Rect& box) { return covered_samples(curves, box) == 0; });
    if (free_corner != corners.end()) {
      legend_box = *free_corner;
    } else {
      frame = Frame(canvas, text, bounds, legend_size.width + detail::kLegendGap);
      curves = pixel_curves(frame);
      legend_box = detail::legend_beside(frame.plot(), legend_size);
    }
  }

  frame.draw(canvas);
  cairo_t* cr = canvas.cr();
  cairo_save(cr);
  const Rect& plot = frame.plot();
  cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
  cairo_clip(cr);
  for (std::size_t i = 0; i < series.size(); ++i) draw_curve(canvas, curves[i], resolve(series[i], i));
  cairo_restore(cr);
  if (!legend.empty()) detail::draw_legend(canvas, legend, legend_box);
  canvas.save_png();
}

}  // namespace kiln::plot
