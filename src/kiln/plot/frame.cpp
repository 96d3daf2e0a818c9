#include "kiln/plot/frame.h"

#include <algorithm>
#include <cmath>

#include "kiln/core/error.h"

namespace kiln::plot::detail {
namespace {

const TextStyle kTitle{.size = 15.0, .bold = true, .color = {0x22, 0x22, 0x22}};
const TextStyle kAxisLabel{.size = 13.0, .bold = false, .color = {0x22, 0x22, 0x22}};
const TextStyle kTickLabel{.size = 11.0, .bold = false, .color = {0x44, 0x44, 0x44}};
constexpr Color kGrid{0xe8, 0xe8, 0xe8};
constexpr Color kBorder{0x99, 0x99, 0x99};
constexpr double kOuter = 10.0;    // empty border around the whole image
constexpr double kTickLength = 4.0;
constexpr double kTickGap = 3.0;   // between a tick mark and its label
constexpr double kLabelGap = 6.0;  // between tick labels and the axis label
constexpr double kMinLabelSpace = 12.0;  // horizontal space between neighbouring x tick labels
constexpr double kMinPlotSide = 40.0;

/// A 1-pixel line at coordinate v is crisp only when centred on a pixel.
double crisp(double v) { return std::floor(v) + 0.5; }

double widest_label(const Canvas& canvas, const AxisScale& s) {
  double w = 0.0;
  for (const auto& l : s.labels) w = std::max(w, canvas.text_size(l, kTickLabel).width);
  return w;
}

}  // namespace

Frame::Frame(const Canvas& canvas, const FrameText& text, const DataBounds& b, double reserve_right) : text_(text) {
  const double W = canvas.width(), H = canvas.height();
  const double tick_h = canvas.text_size("0", kTickLabel).height;
  const double label_h = canvas.text_size("Xg", kAxisLabel).height;
  const auto too_small = [&](const char* side) {
    return Error(canvas.context() + ": a " + std::to_string(canvas.width()) + " x " +
                 std::to_string(canvas.height()) + " image leaves no room for the plot area (too " + side +
                 " for its labels); make it larger");
  };

  // Vertical: title above; x tick labels and x label below. The top y tick label
  // may sit on the plot's top edge, so half a label height stays free there.
  const double top = kOuter + (text.title.empty() ? tick_h / 2 : canvas.text_size(text.title, kTitle).height + 8.0);
  const double bottom =
      kOuter + (text.x_label.empty() ? 0.0 : label_h + kLabelGap) + tick_h + kTickGap + kTickLength;
  plot_.y = top;
  plot_.h = H - top - bottom;
  if (plot_.h < kMinPlotSide) throw too_small("short");
  // Linear y ticks about 3.5 label heights apart: readable without crowding.
  // Log ticks are uneven (1-2-5 within a decade), so there the bound is the
  // closest pair, 1.8 label heights, which still leaves a gap between labels.
  if (b.log_y) {
    y_ = log_scale(b.y_lo, b.y_hi, std::max(3, static_cast<int>(plot_.h / (tick_h * 1.8))));
  } else {
    y_ = linear_scale(b.y_lo, b.y_hi, std::max(3, static_cast<int>(plot_.h / (tick_h * 3.5))));
  }

  // Horizontal: y label and y tick labels to the left; room for the legend and
  // for the last x tick label's overhang to the right.
  plot_.x = kOuter + (text.y_label.empty() ? 0.0 : label_h + kLabelGap) + widest_label(canvas, y_) + kTickGap +
            kTickLength;
  double right = kOuter + reserve_right;
  const double min_step = b.x_whole_numbers ? 1.0 : 0.0;
  for (int pass = 0; pass < 2; ++pass) {
    plot_.w = W - plot_.x - right;
    if (plot_.w < kMinPlotSide) throw too_small("narrow");
    // Fewer ticks until neighbouring labels leave kMinLabelSpace between them.
    for (int max_x_ticks = std::max(3, static_cast<int>(plot_.w / 70.0));; --max_x_ticks) {
      x_ = linear_scale(b.x_lo, b.x_hi, max_x_ticks, min_step);
      bool fits = true;
      for (std::size_t i = 1; i < x_.ticks.size() && fits; ++i) {
        const double gap = (x_.fraction(x_.ticks[i]) - x_.fraction(x_.ticks[i - 1])) * plot_.w;
        const double need = (canvas.text_size(x_.labels[i - 1], kTickLabel).width +
                             canvas.text_size(x_.labels[i], kTickLabel).width) / 2 + kMinLabelSpace;
        fits = gap >= need;
      }
      if (fits || max_x_ticks <= 2) break;
    }
    // The last x label is centred on its tick and may reach a little past the
    // plot area; if it would run off the image (or into the legend), widen the
    // right margin and lay out once more.
    if (x_.ticks.empty()) break;
    const double label_end = plot_.x + x_.fraction(x_.ticks.back()) * plot_.w +
                             canvas.text_size(x_.labels.back(), kTickLabel).width / 2;
    const double overhang = label_end - (plot_.right() + kOuter - 2.0);
    if (overhang <= 0) break;
    right += overhang;
  }
}

void Frame::draw(const Canvas& canvas) const {
  cairo_t* cr = canvas.cr();
  cairo_set_line_width(cr, 1.0);
  const double left = crisp(plot_.x), top = crisp(plot_.y);
  const double right = crisp(plot_.right()), bottom = crisp(plot_.bottom());

  canvas.set_color(kGrid);
  for (double t : x_.ticks) {
    const double x = crisp(x_pixel(t));
    cairo_move_to(cr, x, top);
    cairo_line_to(cr, x, bottom);
  }
  for (double t : y_.ticks) {
    const double y = crisp(y_pixel(t));
    cairo_move_to(cr, left, y);
    cairo_line_to(cr, right, y);
  }
  cairo_stroke(cr);

  canvas.set_color(kBorder);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  for (double t : x_.ticks) {
    const double x = crisp(x_pixel(t));
    cairo_move_to(cr, x, bottom);
    cairo_line_to(cr, x, bottom + kTickLength);
  }
  for (double t : y_.ticks) {
    const double y = crisp(y_pixel(t));
    cairo_move_to(cr, left, y);
    cairo_line_to(cr, left - kTickLength, y);
  }
  cairo_stroke(cr);

  for (std::size_t i = 0; i < x_.ticks.size(); ++i) {
    canvas.draw_text(x_.labels[i], x_pixel(x_.ticks[i]), plot_.bottom() + kTickLength + kTickGap, kTickLabel,
                     HAlign::center, VAlign::top);
  }
  for (std::size_t i = 0; i < y_.ticks.size(); ++i) {
    canvas.draw_text(y_.labels[i], plot_.x - kTickLength - kTickGap, y_pixel(y_.ticks[i]), kTickLabel,
                     HAlign::right, VAlign::middle);
  }

  const double mid_x = plot_.x + plot_.w / 2;
  canvas.draw_text(text_.x_label, mid_x, canvas.height() - kOuter, kAxisLabel, HAlign::center, VAlign::bottom);
  canvas.draw_text(text_.y_label, kOuter, plot_.y + plot_.h / 2, kAxisLabel, HAlign::center, VAlign::top,
                   /*vertical=*/true);
  // The title is centred over the plot area unless that would push it off the image.
  const double title_w = canvas.text_size(text_.title, kTitle).width;
  const double title_x =
      std::clamp(mid_x, kOuter + title_w / 2, std::max(kOuter + title_w / 2, canvas.width() - kOuter - title_w / 2));
  canvas.draw_text(text_.title, title_x, kOuter, kTitle, HAlign::center, VAlign::top);
}

}  // namespace kiln::plot::detail
