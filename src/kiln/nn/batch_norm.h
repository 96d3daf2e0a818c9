#pragma once
// BatchNorm1d and BatchNorm2d (torch.nn names, defaults, parameter and buffer
// names), on the fused batch_norm op.
//
// Training mode normalises each channel with the batch's mean and biased
// variance and updates the running statistics; eval mode normalises with the
// running statistics. The state dict holds weight, bias, running_mean,
// running_var and num_batches_tracked (i64, counting training batches), as
// torch's does.
#include <cstdint>
#include <string>

#include "kiln/nn/module.h"

namespace kiln::nn {

/// Options of BatchNorm1d/2d, set by name: `BatchNorm2d({.num_features = 32, .momentum = 0.01})`.
struct BatchNormOptions {
  std::int64_t num_features = 0;  ///< C, required
  double eps = 1e-5;              ///< added to the variance
  /// PyTorch's convention: running = (1 - momentum)·running + momentum·batch
  /// (Keras' momentum is 1 minus this).
  double momentum = 0.1;
  bool affine = true;               ///< learnable weight (ones) and bias (zeros)
  bool track_running_stats = true;  ///< keep running statistics; without them eval mode also uses batch statistics
};

/// What BatchNorm1d and BatchNorm2d share; they differ only in the input ranks they accept.
class BatchNorm : public Layer {
 public:
  /// x [N, C, ...] → the same shape.
  Tensor forward(const Tensor& x) override;
  /// "BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)".
  std::string name() const override;

  const BatchNormOptions& options() const { return options_; }
  /// [C] f32; undefined unless affine.
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  /// [C] f32 running statistics; undefined unless track_running_stats.
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  /// i64 scalar: training batches seen; undefined unless track_running_stats.
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 protected:
  /// `type` names the layer in messages; inputs must have rank `min_rank`..`max_rank`.
  BatchNorm(const BatchNormOptions& options, const char* type, std::int64_t min_rank, std::int64_t max_rank);

 private:
  BatchNormOptions options_;
  const char* type_;
  std::int64_t min_rank_;
  std::int64_t max_rank_;
  Tensor weight_;
  Tensor bias_;
  Tensor running_mean_;
  Tensor running_var_;
  Tensor num_batches_tracked_;
};

/// Over [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options);
  explicit BatchNorm1d(std::int64_t num_features) : BatchNorm1d(BatchNormOptions{.num_features = num_features}) {}
};

/// Over [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options);
  explicit BatchNorm2d(std::int64_t num_features) : BatchNorm2d(BatchNormOptions{.num_features = num_features}) {}
};

}  // namespace kiln::nn
