#pragma once
// A small DCGAN on Fashion-MNIST, sized to train in minutes per epoch on two
// CPU cores.
//
//   generator     z [B, noise_dim] ~ N(0, I)
//                 → Linear → BatchNorm1d → ReLU → [2c, 7, 7]
//                 → upsample ×2 → Conv2d 3×3 (c) → BatchNorm2d → ReLU        [c, 14, 14]
//                 → upsample ×2 → Conv2d 5×5 (1) → Tanh                      [1, 28, 28] in [-1, 1]
//   discriminator x [B, 1, 28, 28] in [-1, 1]
//                 → Conv2d 4×4 stride 2 (d) → LeakyReLU(0.2)                  [d, 14, 14]
//                 → Conv2d 4×4 stride 2 (2d) → BatchNorm2d → LeakyReLU(0.2)   [2d, 7, 7]
//                 → Flatten → Linear → one logit
// (c = generator_channels, d = discriminator_channels.) Nearest-neighbour
// upsampling followed by a convolution stands in for transposed convolutions
// (which kiln does not have) and avoids their checkerboard artefacts. Weights
// start as in the DCGAN paper: N(0, 0.02²), BatchNorm scales N(1, 0.02²).
//
// Label conventions (binary cross-entropy on logits): the discriminator learns
// real → `real_label` (1, or e.g. 0.9 for one-sided label smoothing) and
// generated → 0; the generator learns to make the discriminator answer 1 on
// its samples (the non-saturating loss of Goodfellow et al.). Both use Adam
// (lr 2e-4, β1 = 0.5 by default). Training images are scaled from [0, 1] to
// [-1, 1]; samples are mapped back for the PNGs and the quality classifier.
//
// `kiln train examples/gan.toml` (task = "gan") runs run_gan_experiment.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/config/config.h"
#include "kiln/core/rng.h"
#include "kiln/nn/module.h"
#include "kiln/nn/sequential.h"
#include "kiln/train/augment.h"
#include "kiln/train/datasets.h"
#include "kiln/train/experiment.h"

namespace kiln::train {

/// Sizes of the GAN, set by name: `Gan({.noise_dim = 16, .generator_channels = 8}, gen)`.
struct GanOptions {
  std::int64_t noise_dim = 64;
  std::int64_t generator_channels = 32;      ///< c above
  std::int64_t discriminator_channels = 32;  ///< d above
};

/// Generator and discriminator as children "generator" and "discriminator"
/// (Sequentials), so one state dict holds both.
class Gan : public nn::Module {
 public:
  /// Weights drawn from `gen` with the DCGAN initialisation.
  Gan(const GanOptions& options, Generator& gen);

  /// z [B, noise_dim] → images [B, 1, 28, 28] in [-1, 1].
  nn::Sequential& generator() { return *generator_; }
  /// images [B, 1, 28, 28] in [-1, 1] → logits [B, 1] (real vs generated).
  nn::Sequential& discriminator() { return *discriminator_; }
  /// `n` images in [0, 1] ([n, 1, 28, 28]) from noise drawn from `noise`, in
  /// eval mode without a graph.
  Tensor sample(std::int64_t n, Generator& noise, std::int64_t batch_size = 250);
  /// Images from given noise z [B, noise_dim], mapped to [0, 1]; eval mode, no graph.
  Tensor sample_from(const Tensor& z);

  /// "Gan(noise=64, generator_channels=32, discriminator_channels=32)".
  std::string name() const override;
  const GanOptions& options() const { return options_; }

 private:
  GanOptions options_;
  std::shared_ptr<nn::Sequential> generator_;
  std::shared_ptr<nn::Sequential> discriminator_;
};

/// A trained Fashion-MNIST classifier rebuilt from its run dir, with the input
/// preparation it was trained with.
struct QualityClassifier {
  std::shared_ptr<nn::Sequential> model;
  ImageLayout layout = ImageLayout::flat;      ///< its config's data.layout
  std::optional<Normalization> normalization;  ///< its config's data.normalize
};

/// Reads `run_dir`/config.toml (or config.json) — written by `kiln train` for a
/// fashion-mnist classification config — rebuilds its [model] layers with
/// build_sequential and loads `run_dir`/model.safetensors. With data.normalize
/// the statistics are recomputed from the training images in `data_dir` (the
/// classifier's data.limit applies), as training did. Throws naming the file
/// and the problem.
QualityClassifier load_quality_classifier(const std::filesystem::path& run_dir, const std::filesystem::path& data_dir);

/// What a classifier makes of generated images.
struct SampleQuality {
  /// Mean over samples of the largest softmax probability: near 1 when every
  /// sample looks clearly like some class.
  double mean_confidence = 0.0;
  /// Entropy (nats) of the histogram of predicted classes: log 10 ≈ 2.303
  /// when all ten classes are generated equally often, 0 when one class only
  /// (mode collapse).
  double class_entropy = 0.0;
  std::vector<std::int64_t> class_counts;  ///< predicted samples per class
};

/// images [N, 1, 28, 28] in [0, 1]; the classifier runs in eval mode without a graph.
SampleQuality score_samples(QualityClassifier& classifier, const Tensor& images, std::int64_t batch_size = 250);

/// Trains the config's GAN (see examples/gan.toml for every key). Writes
/// samples_epoch_NNN.png after every epoch (the same fixed noise each time),
/// curves.png, log.csv and model.safetensors; when the config names a
/// quality_classifier run dir, scores 1,000 samples with it and returns test
/// "mean_confidence", "class_entropy" and "count_0".."count_9", and for
/// reference the same two figures for 1,000 real test images
/// ("real_mean_confidence", "real_class_entropy"); else says why it was
/// skipped. Always returns the last epoch's mean "d_loss" and "g_loss".
RunResult run_gan_experiment(const config::Document& config, const RunOverrides& overrides);

}  // namespace kiln::train
