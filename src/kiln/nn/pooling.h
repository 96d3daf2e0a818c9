#pragma once
// Pooling layers over [N, C, H, W]: MaxPool2d, AvgPool2d (torch.nn names and
// defaults) and GlobalAveragePool2d (Keras' GlobalAveragePooling2D).
#include <string>

#include "kiln/nn/module.h"
#include "kiln/nn/size2d.h"

namespace kiln::nn {

/// Options of MaxPool2d, set by name: `MaxPool2d({.kernel_size = 2})`.
struct MaxPool2dOptions {
  Size2d kernel_size = 0;  ///< required
  Size2d stride = 0;       ///< 0 (the default): the kernel size, as in PyTorch
  Size2d padding = 0;      ///< implicit -inf on each side, at most half the kernel
};

/// Options of AvgPool2d, set by name: `AvgPool2d({.kernel_size = 3, .stride = 1, .padding = 1})`.
struct AvgPool2dOptions {
  Size2d kernel_size = 0;  ///< required
  Size2d stride = 0;       ///< 0 (the default): the kernel size, as in PyTorch
  Size2d padding = 0;      ///< zeros on each side, at most half the kernel
  /// Divide by the whole window, padding included (PyTorch's default), or by
  /// the real pixels only.
  bool count_include_pad = true;
};

class MaxPool2d : public Layer {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options);
  /// x [N, C, H, W] or [C, H, W] → the maximum of each window.
  Tensor forward(const Tensor& x) override;
  /// "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))".
  std::string name() const override;
  const MaxPool2dOptions& options() const { return options_; }

 private:
  MaxPool2dOptions options_;
};

class AvgPool2d : public Layer {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options);
  /// x [N, C, H, W] or [C, H, W] → the mean of each window.
  Tensor forward(const Tensor& x) override;
  /// "AvgPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), count_include_pad=true)".
  std::string name() const override;
  const AvgPool2dOptions& options() const { return options_; }

 private:
  AvgPool2dOptions options_;
};

/// The mean over height and width: [N, C, H, W] → [N, C].
class GlobalAveragePool2d : public Layer {
 public:
  Tensor forward(const Tensor& x) override;
  std::string name() const override { return "GlobalAveragePool2d()"; }
};

}  // namespace kiln::nn
