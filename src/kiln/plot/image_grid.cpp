#include "kiln/plot/image_grid.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/plot/canvas.h"

namespace kiln::plot {
namespace {

const detail::TextStyle kTitle{.size = 14.0, .bold = true, .color = {0x22, 0x22, 0x22}};
constexpr int kTitleMargin = 6;  // around the title's text

std::uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  return static_cast<std::uint8_t>(std::lround(std::min(v, 1.0f) * 255.0f));
}

}  // namespace

void image_grid(const std::filesystem::path& path, const ImageGridOptions& options, const Tensor& images) {
  const std::string context = "plot::image_grid '" + path.string() + "'";
  if (!images.defined()) throw Error(context + ": the images tensor is undefined");
  const Shape& shape = images.shape();
  const bool rank3 = shape.size() == 3, rank4 = shape.size() == 4;
  if (!(rank3 || (rank4 && (shape[1] == 1 || shape[1] == 3)))) {
    throw Error(context + ": images must be [N, H, W] or [N, C, H, W] with C = 1 or 3; got " + images.str());
  }
  if (images.numel() == 0) throw Error(context + ": images " + images.str() + " holds no image");
  const std::int64_t n = shape[0], channels = rank4 ? shape[1] : 1;
  const std::int64_t h = shape[shape.size() - 2], w = shape[shape.size() - 1];
  if (options.rows < 0 || options.cols < 0) {
    throw Error(context + ": rows " + std::to_string(options.rows) + " and cols " + std::to_string(options.cols) +
                " must be >= 0 (0 chooses)");
  }
  if (options.scale < 1 || options.scale > 64) {
    throw Error(context + ": scale " + std::to_string(options.scale) + " is outside 1 .. 64");
  }
  if (options.padding < 0 || options.padding > 256) {
    throw Error(context + ": padding " + std::to_string(options.padding) + " is outside 0 .. 256");
  }
  std::int64_t cols = options.cols, rows = options.rows;
  if (cols == 0) cols = rows > 0 ? (n + rows - 1) / rows : static_cast<std::int64_t>(std::ceil(std::sqrt(n)));
  if (rows == 0) rows = (n + cols - 1) / cols;
  if (rows * cols < n) {
    throw Error(context + ": " + std::to_string(n) + " images do not fit a " + std::to_string(rows) + " x " +
                std::to_string(cols) + " grid (rows x cols); pass a slice or a larger grid");
  }

  // Sizes in 64 bits until they are known to fit the canvas (which rejects > 32767).
  const std::int64_t cell_w = w * options.scale, cell_h = h * options.scale, pad = options.padding;
  const std::int64_t grid_w = cols * cell_w + (cols + 1) * pad, grid_h = rows * cell_h + (rows + 1) * pad;
  constexpr std::int64_t kLimit = 32767;  // cairo's image surfaces, as Canvas checks
  if (grid_w > kLimit || grid_h > kLimit) {
    throw Error(context + ": a " + std::to_string(rows) + " x " + std::to_string(cols) + " grid of " +
                std::to_string(h) + " x " + std::to_string(w) + " images at scale " + std::to_string(options.scale) +
                " is " + std::to_string(grid_w) + " x " + std::to_string(grid_h) + " pixels, over the limit of " +
                std::to_string(kLimit) + " per side; use a smaller scale or fewer images");
  }

  // The canvas is measured before it exists, so a scratch one measures the title.
  int title_h = 0, title_w = 0;
  if (!options.title.empty()) {
    const detail::Canvas scratch(1, 1, "image_grid", path);
    const detail::TextSize t = scratch.text_size(options.title, kTitle);
    title_h = static_cast<int>(std::ceil(t.height)) + 2 * kTitleMargin;
    title_w = static_cast<int>(std::ceil(t.width)) + 2 * kTitleMargin;
  }
  const int width = std::max(static_cast<int>(grid_w), title_w);
  const detail::Canvas canvas(width, static_cast<int>(grid_h) + title_h, "image_grid", path);
  canvas.draw_text(options.title, width / 2.0, kTitleMargin, kTitle, detail::HAlign::center, detail::VAlign::top);

  // One host read for the whole batch.
  const std::vector<float> values = images.to_vector<float>();
  const float unit = images.dtype() == DType::u8 ? 1.0f / 255.0f : 1.0f;
  const std::int64_t plane = h * w;
  std::vector<Color> pixels(static_cast<std::size_t>(plane));
  const int left = static_cast<int>((width - grid_w) / 2);  // centred under a wider title
  for (std::int64_t i = 0; i < n; ++i) {
    const float* img = values.data() + i * channels * plane;
    for (std::int64_t p = 0; p < plane; ++p) {
      const std::uint8_t r = to_byte(img[p] * unit);
      pixels[static_cast<std::size_t>(p)] =
          channels == 3 ? Color{r, to_byte(img[plane + p] * unit), to_byte(img[2 * plane + p] * unit)} : Color{r, r, r};
    }
    const std::int64_t row = i / cols, col = i % cols;
    canvas.blit(left + static_cast<int>(pad + col * (cell_w + pad)), title_h + static_cast<int>(pad + row * (cell_h + pad)),
                static_cast<int>(w), static_cast<int>(h), options.scale, pixels);
  }
  canvas.save_png();
}

}  // namespace kiln::plot
