#pragma once
// image_grid: a batch of images side by side in one PNG, e.g. Fashion-MNIST
// samples, a VAE's reconstructions or its decoded samples.
//
//   plot::image_grid(run_dir / "samples.png", {.rows = 8, .cols = 8, .scale = 3, .title = "Samples, epoch 10"},
//                    decoded);  // f32 [64, 1, 28, 28] in [0, 1]
#include <filesystem>
#include <string>

#include "kiln/core/tensor.h"

namespace kiln::plot {

struct ImageGridOptions {
  int rows = 0;      ///< 0: enough rows for every image (about square when cols is also 0)
  int cols = 0;      ///< 0: enough columns for every image (about square when rows is also 0)
  int scale = 3;     ///< each image pixel becomes a scale x scale block (nearest neighbour), 1..64
  int padding = 2;   ///< white pixels between images and around the grid, 0..256
  std::string title{};  ///< drawn above the grid when not empty
};

/// Lays `images` out row by row, left to right, and writes the PNG to `path`
/// atomically. `images` is [N, H, W] (grayscale) or [N, C, H, W] with C = 1
/// (grayscale) or 3 (RGB), of any dtype and device; values are read once to
/// the host. Floating and integer values are taken as 0 (black) .. 1 (full),
/// clamped, NaN as 0; u8 tensors are read as 0 .. 255, as image files store
/// them. N may be less than rows x cols (the rest stays empty).
/// Throws kiln::Error starting "plot::image_grid '<path>': " for another rank
/// or channel count, an empty tensor, more images than rows x cols, an option
/// out of range, an image too large for PNG (32767 pixels a side), or a file
/// that cannot be written.
void image_grid(const std::filesystem::path& path, const ImageGridOptions& options, const Tensor& images);

}  // namespace kiln::plot
