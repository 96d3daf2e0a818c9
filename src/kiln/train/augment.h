#pragma once
// Image augmentation for training batches (Keras' RandomTranslation,
// RandomFlip("horizontal"), RandomCrop after padding). Inputs are f32 images
// [B, H, W] or [B, C, H, W]; each image gets its own random draw from `gen`,
// so a batch is augmented identically for the same generator state.
#include <cstdint>

#include "kiln/core/rng.h"
#include "kiln/core/tensor.h"

namespace kiln::train {

struct AugmentOptions {
  std::int64_t max_shift = 0;     ///< shift by up to ± this many pixels in each axis, zeros fill
  bool horizontal_flip = false;   ///< mirror left-right with probability 1/2
  std::int64_t crop_padding = 0;  ///< zero-pad by this much, then crop back to H×W at a random place
  bool any() const { return max_shift > 0 || horizontal_flip || crop_padding > 0; }
};

/// A new tensor: each image of `images` shifted, flipped and cropped as asked.
Tensor augment_images(const Tensor& images, const AugmentOptions& options, Generator& gen);

/// Per-channel normalisation statistics over [N, ...] images (channel dim 1 for
/// rank 4, one channel otherwise).
struct Normalization {
  std::vector<double> mean, std;
};
Normalization image_statistics(const Tensor& images);
/// (x - mean) / std per channel, in a new f32 tensor.
Tensor normalize_images(const Tensor& images, const Normalization& stats);

}  // namespace kiln::train
