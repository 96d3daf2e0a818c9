#include "kiln/plot/scatter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/io_test_util.h"
#include "kiln/plot/palette.h"
#include "plot/plot_test_util.h"

namespace kiln::plot {
namespace {

using test::count_files;
using test::expect_error;
using test::near_color;
using test::Png;
using test::TempDir;

struct Centroid {
  double x = 0, y = 0;
  int n = 0;
};

/// Mean position of the pixels exactly in colour `c` left of column `x_end`.
Centroid centroid(const Png& png, Color c, int x_end) {
  Centroid out;
  for (int y = 0; y < png.height(); ++y) {
    for (int x = 0; x < x_end; ++x) {
      if (png.at(x, y) == c) out.x += x, out.y += y, ++out.n;
    }
  }
  if (out.n > 0) out.x /= out.n, out.y /= out.n;
  return out;
}

TEST(PlotScatter, EachClassIsDrawnInItsColourWhereItsPointsMap) {
  TempDir dir;
  const auto path = dir / "latent.png";
  // Three classes at three corners of the data: class 3 at (0, 0), class 5 at
  // (10, 10), class 7 at (0, 10). Opaque, large dots so their centres are exact colours.
  std::vector<double> xs, ys;
  std::vector<int> labels;
  for (const auto& [x, y, label] : {std::tuple{0.0, 0.0, 3}, std::tuple{10.0, 10.0, 5}, std::tuple{0.0, 10.0, 7}}) {
    xs.push_back(x), ys.push_back(y), labels.push_back(label);
  }
  const std::vector<std::string> names{"a", "b", "c", "d", "e", "f", "g", "h"};
  scatter(path, {.width = 1000, .height = 600, .point_radius = 6.0, .point_alpha = 1.0}, xs, ys, labels, names);
  const Png png(path);
  ASSERT_EQ(png.width(), 1000);
  ASSERT_EQ(png.height(), 600);
  // The legend (one-letter names) sits in the last ~80 columns; look left of it.
  const int x_end = 900;
  const Centroid c3 = centroid(png, palette_color(3), x_end);
  const Centroid c5 = centroid(png, palette_color(5), x_end);
  const Centroid c7 = centroid(png, palette_color(7), x_end);
  ASSERT_GT(c3.n, 50);
  ASSERT_GT(c5.n, 50);
  ASSERT_GT(c7.n, 50);
  // y grows downwards in the image: (0, 0) is bottom left, (10, 10) top right, (0, 10) top left.
  EXPECT_LT(c3.x, c5.x - 500);
  EXPECT_GT(c3.y, c5.y + 300);
  EXPECT_NEAR(c7.x, c3.x, 1.0);
  EXPECT_NEAR(c7.y, c5.y, 1.0);
  // A class with no points shows only in the legend.
  EXPECT_EQ(centroid(png, palette_color(0), x_end).n, 0);
  EXPECT_GT(png.count(near_color(palette_color(0))), 20);
}

TEST(PlotScatter, TenThousandPointsInTenClassesShowEveryClassColour) {
  TempDir dir;
  const auto path = dir / "many.png";
  std::vector<double> xs, ys;
  std::vector<int> labels;
  for (int i = 0; i < 10000; ++i) {
    const int c = i % 10;
    const double a = 2 * 3.14159265358979 * c / 10 + 0.001 * i;
    xs.push_back(std::cos(a) * (1 + 0.0001 * i)), ys.push_back(std::sin(a) * (1 + 0.0001 * i)), labels.push_back(c);
  }
  scatter(path, {.title = "latent"}, xs, ys, labels, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
  const Png png(path);
  EXPECT_EQ(png.width(), ScatterOptions{}.width);
  for (std::size_t c = 0; c < 10; ++c) {
    // Semi-transparent dots blend with white and each other; the legend dot is opaque.
    EXPECT_GT(png.count(near_color(palette_color(c), 2)), 20) << "class " << c;
  }
}

TEST(PlotScatter, RejectsBadInputNamingTheFileAndTheProblem) {
  TempDir dir;
  const auto path = dir / "s.png";
  const std::vector<std::string> two{"a", "b"};
  expect_error([&] { scatter(path, {}, {1, 2}, {1}, {0, 1}, two); },
               {"plot::scatter", "s.png", "2 x values, 1 y values and 2 labels"});
  expect_error([&] { scatter(path, {}, {}, {}, {}, two); }, {"s.png", "no points"});
  expect_error([&] { scatter(path, {}, {1, 2, 3}, {1, 2, 3}, {0, 1, 2}, two); },
               {"s.png", "point 2 has label 2", "outside [0, 2)"});
  expect_error([&] { scatter(path, {}, {1}, {1}, {-1}, two); }, {"point 0 has label -1"});
  expect_error([&] { scatter(path, {}, {1}, {1}, {0}, {}); }, {"0 class names"});
  expect_error([&] { scatter(path, {}, {1}, {1}, {0}, std::vector<std::string>(11, "x")); },
               {"11 class names", "between 1 and 10"});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { scatter(path, {}, {nan}, {1}, {0}, two); }, {"no point can be drawn"});
  expect_error([&] { scatter(path, {.point_alpha = 0}, {1}, {1}, {0}, two); }, {"point_alpha"});
  expect_error([&] { scatter(path, {.point_radius = -1}, {1}, {1}, {0}, two); }, {"point_radius"});
  expect_error([&] { scatter(dir / "nope" / "s.png", {}, {1}, {1}, {0}, two); }, {"nope/s.png", "does not exist"});
  EXPECT_EQ(count_files(dir.path()), 0);
}

}  // namespace
}  // namespace kiln::plot
