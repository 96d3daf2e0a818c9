#pragma once
// line_chart: curves of y against x as a PNG, e.g. loss and accuracy per epoch
// for training and validation.
//
//   plot::line_chart(run_dir / "loss.png",
//                    {.title = "Loss", .x_label = "epoch", .y_label = "cross-entropy", .log_y = true},
//                    {{.name = "train", .x = epochs, .y = train_loss},
//                     {.name = "validation", .x = epochs, .y = val_loss}});
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kiln/plot/palette.h"

namespace kiln::plot {

/// Where a series gets a dot on each point. A point with no drawable
/// neighbour is always dotted, or it would not be seen at all.
enum class Markers {
  automatic,  ///< on every point when the series has at most 50 (an epoch curve), else none
  always,
  never,
};

struct SeriesStyle {
  std::optional<Color> color{};  ///< default: palette_color(position of the series)
  double line_width = 2.0;     ///< pixels, > 0
  bool dashed = false;         ///< series past the tenth are dashed anyway when their colour is the default (it repeats)
  Markers markers = Markers::automatic;
};

struct Series {
  std::string name{};  ///< legend text; a series without a name stays out of the legend
  std::vector<double> x{};
  std::vector<double> y{};  ///< same length as x; NaN (or infinity) in x or y breaks the line
  SeriesStyle style = {};
};

struct LineChartOptions {
  std::string title{};
  std::string x_label{};
  std::string y_label{};
  int width = 800;   ///< pixels
  int height = 500;  ///< pixels
  bool log_y = false;  ///< base-10 y axis; values <= 0 cannot be shown there and break the line like NaN
};

/// Draws `series` as lines on shared axes and writes the PNG to `path`
/// atomically. Axes get 1-2-5 ticks with labels and grid lines (whole-number x
/// such as epochs gets whole-number ticks); a single point or a constant series
/// gets a range around its value. The legend goes in the emptiest corner of the
/// plot area, or beside it when every corner would cover data.
/// Throws kiln::Error starting "plot::line_chart '<path>': " when there are no
/// series, a series has no points or x and y of different lengths, no point is
/// drawable, a style is invalid, the image is too small for its text, or the
/// file cannot be written (missing directory, no permission).
void line_chart(const std::filesystem::path& path, const LineChartOptions& options, const std::vector<Series>& series);

}  // namespace kiln::plot
