#include "kiln/train/augment.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace kiln::train {

namespace {

struct ImageGeometry {
  std::int64_t batch, channels, height, width;
};

ImageGeometry geometry_of(const Tensor& images, const char* what) {
  if (images.dtype() != DType::f32 || (images.dim() != 3 && images.dim() != 4)) {
    throw Error(std::string(what) + ": expected f32 images [B, H, W] or [B, C, H, W], got " + images.str());
  }
  if (images.dim() == 3) return {images.size(0), 1, images.size(1), images.size(2)};
  return {images.size(0), images.size(1), images.size(2), images.size(3)};
}

}  // namespace

Tensor augment_images(const Tensor& images, const AugmentOptions& o, Generator& gen) {
  const ImageGeometry g = geometry_of(images, "augment_images");
  if (o.max_shift < 0 || o.crop_padding < 0) throw Error("augment_images: max_shift and crop_padding must be >= 0");
  const Tensor src = images.contiguous();
  Tensor out = Tensor::zeros(images.shape(), DType::f32);
  const float* in = src.data<float>();
  float* dst = out.data<float>();
  const std::int64_t plane = g.height * g.width;
  for (std::int64_t b = 0; b < g.batch; ++b) {
    // Offsets: where output pixel (y, x) reads from is (y - dy, x - dx), mirrored first when flipping.
    std::int64_t dy = 0, dx = 0;
    if (o.max_shift > 0) {
      const auto span = static_cast<std::uint64_t>(2 * o.max_shift + 1);
      dy += static_cast<std::int64_t>(gen.next_below(span)) - o.max_shift;
      dx += static_cast<std::int64_t>(gen.next_below(span)) - o.max_shift;
    }
    if (o.crop_padding > 0) {
      // Pad by p and crop at (cy, cx) in [0, 2p]: the same as shifting by p - c.
      const auto span = static_cast<std::uint64_t>(2 * o.crop_padding + 1);
      dy += o.crop_padding - static_cast<std::int64_t>(gen.next_below(span));
      dx += o.crop_padding - static_cast<std::int64_t>(gen.next_below(span));
    }
    const bool flip = o.horizontal_flip && gen.next_below(2) == 1;
    for (std::int64_t c = 0; c < g.channels; ++c) {
      const float* from = in + (b * g.channels + c) * plane;
      float* to = dst + (b * g.channels + c) * plane;
      for (std::int64_t y = 0; y < g.height; ++y) {
        const std::int64_t sy = y - dy;
        if (sy < 0 || sy >= g.height) continue;
        for (std::int64_t x = 0; x < g.width; ++x) {
          std::int64_t sx = x - dx;
          if (sx < 0 || sx >= g.width) continue;
          if (flip) sx = g.width - 1 - sx;
          to[y * g.width + x] = from[sy * g.width + sx];
        }
      }
    }
  }
  return out;
}

Normalization image_statistics(const Tensor& images) {
  const ImageGeometry g = geometry_of(images, "image_statistics");
  const Tensor src = images.contiguous();
  const float* p = src.data<float>();
  Normalization n;
  const std::int64_t plane = g.height * g.width;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    double s = 0.0, sq = 0.0;
    for (std::int64_t b = 0; b < g.batch; ++b) {
      const float* q = p + (b * g.channels + c) * plane;
      for (std::int64_t i = 0; i < plane; ++i) {
        s += q[i];
        sq += static_cast<double>(q[i]) * q[i];
      }
    }
    const double count = static_cast<double>(g.batch * plane);
    const double mean = s / count;
    n.mean.push_back(mean);
    n.std.push_back(std::sqrt(std::max(sq / count - mean * mean, 1e-12)));
  }
  return n;
}

Tensor normalize_images(const Tensor& images, const Normalization& stats) {
  const ImageGeometry g = geometry_of(images, "normalize_images");
  if (static_cast<std::int64_t>(stats.mean.size()) != g.channels || stats.std.size() != stats.mean.size()) {
    throw Error("normalize_images: statistics for " + std::to_string(stats.mean.size()) + " channels, images have " +
                std::to_string(g.channels));
  }
  const Tensor src = images.contiguous();
  Tensor out = Tensor::empty(images.shape(), DType::f32);
  const float* p = src.data<float>();
  float* q = out.data<float>();
  const std::int64_t plane = g.height * g.width;
  for (std::int64_t b = 0; b < g.batch; ++b) {
    for (std::int64_t c = 0; c < g.channels; ++c) {
      const auto mean = static_cast<float>(stats.mean[static_cast<std::size_t>(c)]);
      const auto inv = static_cast<float>(1.0 / stats.std[static_cast<std::size_t>(c)]);
      const std::int64_t off = (b * g.channels + c) * plane;
      for (std::int64_t i = 0; i < plane; ++i) q[off + i] = (p[off + i] - mean) * inv;
    }
  }
  return out;
}

}  // namespace kiln::train
