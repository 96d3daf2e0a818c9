#pragma once
// Conv2d: 2-d convolution over [N, C, H, W] (torch.nn.Conv2d), on the conv2d op.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/core/rng.h"
#include "kiln/nn/init.h"
#include "kiln/nn/module.h"
#include "kiln/nn/size2d.h"

namespace kiln::nn {

/// Conv2d padding: zeros on each side (`.padding = 1`, `.padding = {1, 2}`),
/// or a mode by name: "valid" (none) or "same" (the output keeps the input's
/// height and width; stride 1 only). For "same" with an even kernel extent the
/// odd pixel of padding goes at the bottom and right, as in PyTorch.
class Conv2dPadding {
 public:
  Conv2dPadding(std::int64_t both) : size_(both) {}  // NOLINT(google-explicit-constructor)
  Conv2dPadding(std::int64_t height, std::int64_t width) : size_(height, width) {}
  /// "same" or "valid"; anything else throws naming the text.
  template <std::size_t N>
  Conv2dPadding(const char (&mode)[N]) : Conv2dPadding(std::string(mode)) {}  // NOLINT(google-explicit-constructor)
  explicit Conv2dPadding(const std::string& mode);

  bool same() const { return same_; }
  /// The explicit padding (zero for "same": the layer works it out from the kernel).
  Size2d size() const { return size_; }

 private:
  Size2d size_ = 0;
  bool same_ = false;
};

/// Options of Conv2d, set by name:
///   Conv2d(Conv2dOptions{.in_channels = 1, .out_channels = 32, .kernel_size = 3, .padding = "same"})
struct Conv2dOptions {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  Size2d kernel_size = 0;  ///< required
  Size2d stride = 1;
  Conv2dPadding padding = 0;
  Size2d dilation = 1;
  /// Channels split into this many groups (in and out channels must divide);
  /// groups == in_channels is a depthwise convolution.
  std::int64_t groups = 1;
  bool bias = true;
  /// Weight initialiser. torch_default is kaiming_uniform with a = √5 (weight
  /// and bias U(±1/√fan_in)); any other choice also sets the bias to zero, as Keras does.
  Init init = Init::torch_default;
};

class Conv2d : public Layer {
 public:
  /// weight [out, in/groups, kh, kw] and bias [out] (f32), drawn from `gen`.
  Conv2d(const Conv2dOptions& options, Generator& gen);
  /// Same, drawing from default_generator().
  explicit Conv2d(const Conv2dOptions& options);

  /// x [N, in, H, W] → [N, out, H', W'].
  Tensor forward(const Tensor& x) override;
  /// "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))", with padding,
  /// dilation, groups and bias shown when they differ from the defaults (PyTorch's form).
  std::string name() const override;

  const Conv2dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }
  /// Undefined when built with bias = false.
  const Tensor& bias() const { return bias_; }

 private:
  Conv2dOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace kiln::nn
