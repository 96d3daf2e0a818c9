#include "kiln/nn/batch_norm.h"

#include <string>

#include "kiln/nn/format.h"
#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

BatchNorm::BatchNorm(const BatchNormOptions& options, const char* type, std::int64_t min_rank, std::int64_t max_rank)
    : options_(options), type_(type), min_rank_(min_rank), max_rank_(max_rank) {
  const BatchNormOptions& o = options_;
  if (o.num_features <= 0) {
    throw Error(std::string(type) + ": num_features must be positive, got " + std::to_string(o.num_features));
  }
  if (!(o.eps >= 0.0)) throw Error(std::string(type) + ": eps must be ≥ 0, got " + number_text(o.eps));
  if (!(o.momentum >= 0.0 && o.momentum <= 1.0)) {
    throw Error(std::string(type) + ": momentum must be in [0, 1], got " + number_text(o.momentum));
  }
  const std::int64_t C = o.num_features;
  if (o.affine) {
    weight_ = register_parameter("weight", Tensor::ones({C}));
    bias_ = register_parameter("bias", Tensor::zeros({C}));
  }
  if (o.track_running_stats) {
    running_mean_ = register_buffer("running_mean", Tensor::zeros({C}));
    running_var_ = register_buffer("running_var", Tensor::ones({C}));
    num_batches_tracked_ = register_buffer("num_batches_tracked", Tensor::scalar(0, DType::i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  const BatchNormOptions& o = options_;
  if (!x.defined() || x.dim() < min_rank_ || x.dim() > max_rank_ || x.size(1) != o.num_features) {
    const std::string want = min_rank_ == 2 ? "[N, C] or [N, C, L]" : "[N, C, H, W]";
    throw Error(name() + ": expected input " + want + " with C = " + std::to_string(o.num_features) + ", got " +
                (x.defined() ? x.str() : std::string("an undefined tensor")));
  }
  Tensor y = batch_norm(x, running_mean_, running_var_, weight_, bias_, is_training(), o.momentum, o.eps);
  if (is_training() && o.track_running_stats) {  // counted once the batch went through
    NoGradGuard no_grad;
    add_(num_batches_tracked_, Tensor::scalar(1, DType::i64, num_batches_tracked_.device()));
  }
  return y;
}

std::string BatchNorm::name() const {
  const BatchNormOptions& o = options_;
  return std::string(type_) + "(" + std::to_string(o.num_features) + ", eps=" + number_text(o.eps) +
         ", momentum=" + number_text(o.momentum) + ", affine=" + (o.affine ? "true" : "false") +
         ", track_running_stats=" + (o.track_running_stats ? "true" : "false") + ")";
}

BatchNorm1d::BatchNorm1d(const BatchNormOptions& options) : BatchNorm(options, "BatchNorm1d", 2, 3) {}

BatchNorm2d::BatchNorm2d(const BatchNormOptions& options) : BatchNorm(options, "BatchNorm2d", 4, 4) {}

}  // namespace kiln::nn
