#include "kiln/plot/line_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/io_test_util.h"
#include "plot/plot_test_util.h"

namespace kiln::plot {
namespace {

using test::count_files;
using test::expect_error;
using test::near_color;
using test::Png;
using test::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> range(int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

TEST(PlotLineChart, WritesAPngOfTheRequestedSizeWithEachSeriesInItsPaletteColour) {
  TempDir dir;
  const auto path = dir / "loss.png";
  line_chart(path, {.title = "Loss", .x_label = "epoch", .y_label = "loss", .width = 640, .height = 400},
             {{.name = "train", .x = {1, 2, 3, 4, 5}, .y = {2.0, 1.2, 0.8, 0.6, 0.5}},
              {.name = "validation", .x = {1, 2, 3, 4, 5}, .y = {2.1, 1.4, 1.0, 0.9, 0.85}}});
  const Png png(path);
  EXPECT_EQ(png.width(), 640);
  EXPECT_EQ(png.height(), 400);
  // The line centres are drawn in the exact palette colours; the legend alone
  // holds far fewer such pixels than a curve across the plot.
  EXPECT_GT(png.count(near_color(palette_color(0))), 300);
  EXPECT_GT(png.count(near_color(palette_color(1))), 300);
  // The middle of the image (inside the plot area) is not blank.
  EXPECT_GT(png.count([](Color c) { return !test::is_white(c); }, 160, 100, 480, 300), 500);
}

TEST(PlotLineChart, NaNBreaksTheLine) {
  TempDir dir;
  const auto path = dir / "gap.png";
  std::vector<double> y(11, 1.0);
  y[5] = kNaN;
  line_chart(path, {.width = 600, .height = 300},
             {{.name = "", .x = range(11), .y = y, .style = {.markers = Markers::never}}});
  const Png png(path);
  const auto blue = near_color(palette_color(0), 40);
  // The curve is horizontal: find its row, then its ends on that row.
  int row = 0, best = 0;
  for (int yy = 0; yy < png.height(); ++yy) {
    const int n = png.count(blue, 0, yy, png.width(), yy + 1);
    if (n > best) best = n, row = yy;
  }
  ASSERT_GT(best, 100);
  int left = png.width(), right = 0;
  for (int x = 0; x < png.width(); ++x) {
    if (blue(png.at(x, row))) left = std::min(left, x), right = std::max(right, x);
  }
  const int mid = (left + right) / 2, tenth = (right - left) / 10;
  // x = 4 .. 6 is missing (the NaN at x = 5 cuts both segments), so the middle fifth is empty...
  EXPECT_EQ(png.count(blue, mid - tenth / 2, row - 2, mid + tenth / 2 + 1, row + 3), 0);
  // ...while the line runs on either side of it.
  EXPECT_TRUE(blue(png.at(mid - 2 * tenth, row)));
  EXPECT_TRUE(blue(png.at(mid + 2 * tenth, row)));
}

TEST(PlotLineChart, SinglePointAndConstantSeriesAreDrawn) {
  TempDir dir;
  line_chart(dir / "one.png", {.width = 400, .height = 300}, {{.name = "", .x = {1}, .y = {0.5}}});
  EXPECT_GT(Png(dir / "one.png").count(near_color(palette_color(0))), 10);  // a dot, since there is no line
  line_chart(dir / "flat.png", {.width = 400, .height = 300},
             {{.name = "", .x = {0, 1, 2}, .y = {3, 3, 3}, .style = {.color = Color{0, 0, 0}}}});
  EXPECT_GT(Png(dir / "flat.png").count(near_color({0, 0, 0})), 200);
}

TEST(PlotLineChart, LogAxisSkipsValuesItCannotShow) {
  TempDir dir;
  line_chart(dir / "log.png", {.width = 400, .height = 300, .log_y = true},
             {{.name = "", .x = {0, 1, 2, 3}, .y = {10, 0, -1, 0.1}}});
  EXPECT_GT(Png(dir / "log.png").count(near_color(palette_color(0))), 10);
  expect_error([&] { line_chart(dir / "bad.png", {.log_y = true}, {{.name = "loss", .x = {0, 1}, .y = {0, -1}}}); },
               {"bad.png", "no point can be drawn", "y <= 0 on the log axis"});
}

TEST(PlotLineChart, LegendGoesToACornerTheDataLeavesFree) {
  TempDir dir;
  const auto path = dir / "rising.png";
  // A line from bottom left to top right leaves the top-left and bottom-right corners empty;
  // the top right is preferred but taken, so the legend lands top left.
  line_chart(path, {.width = 600, .height = 400}, {{.name = "rising", .x = {0, 1}, .y = {0, 1}}});
  const Png png(path);
  const auto blue = near_color(palette_color(0));
  EXPECT_GT(png.count(blue, 0, 0, 200, 140), 20);  // the legend's sample line
  EXPECT_EQ(png.count(blue, 400, 260, 600, 400), 0);
}

TEST(PlotLineChart, ReplacesAnExistingFileAndLeavesNoTemporaryBehind) {
  TempDir dir;
  const auto path = dir / "curve.png";
  test::write_bytes(path, "not a png");
  line_chart(path, {.width = 300, .height = 200}, {{.name = "a", .x = {0, 1}, .y = {0, 1}}});
  EXPECT_EQ(Png(path).width(), 300);
  EXPECT_EQ(count_files(dir.path()), 1);
}

TEST(PlotLineChart, RejectsBadInputNamingTheFileAndTheProblem) {
  TempDir dir;
  const auto path = dir / "x.png";
  expect_error([&] { line_chart(path, {}, {}); }, {"plot::line_chart", "x.png", "no series"});
  expect_error([&] { line_chart(path, {}, {{.name = "val", .x = {1, 2, 3}, .y = {1, 2}}}); },
               {"x.png", "series 'val' (#0)", "3 x values but 2 y values"});
  expect_error([&] { line_chart(path, {}, {{.name = "a", .x = {1}, .y = {1}}, {.name = "b", .x = {}, .y = {}}}); },
               {"series 'b' (#1)", "no points"});
  expect_error([&] { line_chart(path, {}, {{.name = "", .x = {kNaN, 1}, .y = {1, kNaN}}}); },
               {"no point can be drawn", "NaN"});
  expect_error([&] { line_chart(path, {}, {{.name = "a", .x = {1}, .y = {1}, .style = {.line_width = 0}}}); },
               {"line_width"});
  expect_error([&] { line_chart(path, {.width = 0}, {{.name = "a", .x = {1}, .y = {1}}}); },
               {"x.png", "0 x 500", "outside 1 .. 32767"});
  expect_error([&] { line_chart(path, {.title = "t", .x_label = "x", .width = 800, .height = 60},
                                {{.name = "a", .x = {1}, .y = {1}}}); },
               {"x.png", "no room for the plot area"});
  EXPECT_EQ(count_files(dir.path()), 0);
}

TEST(PlotLineChart, UnwritablePathsAreErrorsNamingThePath) {
  TempDir dir;
  const std::vector<Series> s{{.name = "a", .x = {1}, .y = {1}}};
  expect_error([&] { line_chart(dir / "missing" / "x.png", {}, s); }, {"missing/x.png", "does not exist"});
  test::write_bytes(dir / "file", "");
  expect_error([&] { line_chart(dir / "file" / "x.png", {}, s); }, {"file/x.png", "is not a directory"});
  // A directory where the file should go: the rename onto it fails.
  std::filesystem::create_directory(dir / "taken.png");
  expect_error([&] { line_chart(dir / "taken.png", {}, s); }, {"taken.png", "cannot rename"});
}

}  // namespace
}  // namespace kiln::plot
