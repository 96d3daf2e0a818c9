#include "kiln/nn/pooling.h"

#include <string>

#include "kiln/ops/ops.h"
#include "kiln/ops/pooling.h"

namespace kiln::nn {

namespace {

// Validates the options of `layer` and resolves the default stride.
template <class Options>
Options checked(Options o, const char* layer) {
  const auto fail = [layer](const std::string& what) { throw Error(std::string(layer) + ": " + what); };
  if (o.kernel_size.h < 1 || o.kernel_size.w < 1) {
    fail("kernel_size must be ≥ 1, got " + o.kernel_size.str() + " (it has no default: set .kernel_size)");
  }
  if (o.stride == Size2d(0)) o.stride = o.kernel_size;
  if (o.stride.h < 1 || o.stride.w < 1) fail("stride must be ≥ 1 (or 0 for the kernel size), got " + o.stride.str());
  if (o.padding.h < 0 || o.padding.w < 0 || 2 * o.padding.h > o.kernel_size.h ||
      2 * o.padding.w > o.kernel_size.w) {
    fail("padding must be between 0 and half the kernel size " + o.kernel_size.str() + ", got " +
         o.padding.str());
  }
  return o;
}

template <class Options>
std::string window_text(const Options& o) {
  return "kernel_size=" + o.kernel_size.str() + ", stride=" + o.stride.str() + ", padding=" + o.padding.str();
}

}  // namespace

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options) : options_(checked(options, "MaxPool2d")) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  const MaxPool2dOptions& o = options_;
  return max_pool2d(x, o.kernel_size.h, o.kernel_size.w, o.stride.h, o.stride.w, o.padding.h, o.padding.w);
}

std::string MaxPool2d::name() const { return "MaxPool2d(" + window_text(options_) + ")"; }

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options) : options_(checked(options, "AvgPool2d")) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  const AvgPool2dOptions& o = options_;
  return avg_pool2d(x, {.kernel_h = o.kernel_size.h, .kernel_w = o.kernel_size.w, .stride_h = o.stride.h,
                        .stride_w = o.stride.w, .pad_h = o.padding.h, .pad_w = o.padding.w,
                        .count_include_pad = o.count_include_pad});
}

std::string AvgPool2d::name() const {
  return "AvgPool2d(" + window_text(options_) +
         ", count_include_pad=" + (options_.count_include_pad ? "true" : "false") + ")";
}

Tensor GlobalAveragePool2d::forward(const Tensor& x) {
  if (!x.defined() || x.dim() != 4) {
    throw Error("GlobalAveragePool2d: expected input [N, C, H, W], got " +
                (x.defined() ? x.str() : std::string("an undefined tensor")));
  }
  return mean(x, {2, 3});
}

}  // namespace kiln::nn
