#include "kiln/plot/image_grid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/io_test_util.h"
#include "plot/plot_test_util.h"

namespace kiln::plot {
namespace {

using test::count_files;
using test::expect_error;
using test::Png;
using test::TempDir;

std::uint8_t byte_of(float v) { return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255)); }

TEST(PlotImageGrid, EveryPixelMatchesItsSourceScaledAndPadded) {
  TempDir dir;
  const auto path = dir / "grid.png";
  // Three 2 x 3 images in a 2 x 2 grid (the fourth cell stays empty).
  const int n = 3, h = 2, w = 3, scale = 4, pad = 1;
  std::vector<float> values;
  for (int i = 0; i < n * h * w; ++i) values.push_back(static_cast<float>(i) / (n * h * w - 1));
  image_grid(path, {.rows = 2, .cols = 2, .scale = scale, .padding = pad}, Tensor::from_vector(values, {n, h, w}));
  const Png png(path);
  const int cell_w = w * scale, cell_h = h * scale;
  ASSERT_EQ(png.width(), 2 * cell_w + 3 * pad);
  ASSERT_EQ(png.height(), 2 * cell_h + 3 * pad);
  for (int y = 0; y < png.height(); ++y) {
    for (int x = 0; x < png.width(); ++x) {
      const int col = (x - pad) / (cell_w + pad), row = (y - pad) / (cell_h + pad);
      const int in_x = (x - pad) % (cell_w + pad), in_y = (y - pad) % (cell_h + pad);
      const int img = row * 2 + col;
      Color expected{0xff, 0xff, 0xff};  // padding and the empty cell
      if (x >= pad && y >= pad && in_x < cell_w && in_y < cell_h && img < n) {
        const std::uint8_t v = byte_of(values[static_cast<std::size_t>((img * h + in_y / scale) * w + in_x / scale)]);
        expected = {v, v, v};
      }
      ASSERT_EQ(png.at(x, y), expected) << "pixel (" << x << ", " << y << ")";
    }
  }
}

TEST(PlotImageGrid, RgbChannelsLandInTheirColours) {
  TempDir dir;
  const auto path = dir / "rgb.png";
  // One 1 x 2 RGB image: a red pixel and a half-grey-blue one.
  const std::vector<float> chw{1.0f, 0.5f,   // R
                               0.0f, 0.5f,   // G
                               0.0f, 1.0f};  // B
  image_grid(path, {.scale = 3, .padding = 0}, Tensor::from_vector(chw, {1, 3, 1, 2}));
  const Png png(path);
  ASSERT_EQ(png.width(), 6);
  ASSERT_EQ(png.height(), 3);
  EXPECT_EQ(png.at(1, 1), (Color{255, 0, 0}));
  EXPECT_EQ(png.at(4, 1), (Color{128, 128, 255}));
}

TEST(PlotImageGrid, ValuesAreClampedNaNIsBlackAndBytesAreRead0To255) {
  TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  image_grid(dir / "f.png", {.scale = 1, .padding = 0}, Tensor::from_vector(std::vector<float>{-0.5f, 2.0f, nan}, {1, 1, 3}));
  const Png f(dir / "f.png");
  EXPECT_EQ(f.at(0, 0), (Color{0, 0, 0}));
  EXPECT_EQ(f.at(1, 0), (Color{255, 255, 255}));
  EXPECT_EQ(f.at(2, 0), (Color{0, 0, 0}));
  image_grid(dir / "u8.png", {.scale = 1, .padding = 0},
             Tensor::from_vector(std::vector<std::uint8_t>{0, 51, 255}, {1, 1, 1, 3}));
  const Png u(dir / "u8.png");
  EXPECT_EQ(u.at(1, 0), (Color{51, 51, 51}));
  EXPECT_EQ(u.at(2, 0), (Color{255, 255, 255}));
}

TEST(PlotImageGrid, StridedViewsAreReadInLogicalOrder) {
  TempDir dir;
  // [H, W, N] storage permuted to [N, H, W]: image 1 is all 1.0, image 0 all 0.0.
  std::vector<float> hwn;
  for (int p = 0; p < 4; ++p) hwn.insert(hwn.end(), {0.0f, 1.0f});
  const Tensor images = Tensor::from_vector(hwn, {2, 2, 2}).permute({2, 0, 1});
  image_grid(dir / "v.png", {.rows = 1, .cols = 2, .scale = 1, .padding = 0}, images);
  const Png png(dir / "v.png");
  EXPECT_EQ(png.at(1, 1), (Color{0, 0, 0}));
  EXPECT_EQ(png.at(3, 1), (Color{255, 255, 255}));
}

TEST(PlotImageGrid, GridShapeIsChosenWhenNotGivenAndATitleGoesAbove) {
  TempDir dir;
  const Tensor five = Tensor::zeros({5, 4, 4});
  image_grid(dir / "auto.png", {.scale = 1, .padding = 1}, five);  // 3 columns, 2 rows
  const Png a(dir / "auto.png");
  EXPECT_EQ(a.width(), 3 * 4 + 4);
  EXPECT_EQ(a.height(), 2 * 4 + 3);
  image_grid(dir / "cols.png", {.cols = 5, .scale = 1, .padding = 0}, five);  // one row
  EXPECT_EQ(Png(dir / "cols.png").height(), 4);

  image_grid(dir / "title.png", {.rows = 1, .cols = 5, .scale = 2, .padding = 0, .title = "Samples"}, five);
  const Png t(dir / "title.png");
  EXPECT_GT(t.height(), 8);  // the title band is above the images
  EXPECT_EQ(t.at(t.width() / 2, t.height() - 1), (Color{0, 0, 0}));
  EXPECT_GT(t.count([](Color c) { return !test::is_white(c); }, 0, 0, t.width(), t.height() - 8), 10);  // text
}

TEST(PlotImageGrid, RejectsBadInputNamingTheFileAndTheProblem) {
  TempDir dir;
  const auto path = dir / "g.png";
  expect_error([&] { image_grid(path, {}, Tensor::zeros({2, 3})); },
               {"plot::image_grid", "g.png", "[N, H, W] or [N, C, H, W]", "f32[2, 3]"});
  expect_error([&] { image_grid(path, {}, Tensor::zeros({1, 2, 4, 4})); }, {"C = 1 or 3", "f32[1, 2, 4, 4]"});
  expect_error([&] { image_grid(path, {}, Tensor::zeros({0, 4, 4})); }, {"holds no image"});
  expect_error([&] { image_grid(path, {.rows = 2, .cols = 2}, Tensor::zeros({5, 4, 4})); },
               {"5 images do not fit a 2 x 2 grid"});
  expect_error([&] { image_grid(path, {.scale = 0}, Tensor::zeros({1, 4, 4})); }, {"scale 0"});
  expect_error([&] { image_grid(path, {.padding = -1}, Tensor::zeros({1, 4, 4})); }, {"padding -1"});
  expect_error([&] { image_grid(path, {.rows = -1}, Tensor::zeros({1, 4, 4})); }, {"rows -1"});
  expect_error([&] { image_grid(path, {.scale = 64}, Tensor::zeros({1, 4, 1000})); }, {"scale 64", "64004 x 260 pixels", "32767"});
  expect_error([&] { image_grid(dir / "no" / "g.png", {}, Tensor::zeros({1, 4, 4})); }, {"no/g.png", "does not exist"});
  expect_error([&] { image_grid(path, {}, Tensor()); }, {"undefined"});
  EXPECT_EQ(count_files(dir.path()), 0);
}

}  // namespace
}  // namespace kiln::plot
