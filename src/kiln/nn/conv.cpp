#include "kiln/nn/conv.h"

#include <cmath>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln::nn {

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

void check_options(const Conv2dOptions& o) {
  const auto fail = [](const std::string& what) { throw Error("Conv2d: " + what); };
  if (o.in_channels <= 0 || o.out_channels <= 0) {
    fail("in_channels and out_channels must be positive, got " + str(o.in_channels) + " and " + str(o.out_channels));
  }
  if (o.kernel_size.h < 1 || o.kernel_size.w < 1) {
    fail("kernel_size must be ≥ 1, got " + o.kernel_size.str() + " (it has no default: set .kernel_size)");
  }
  if (o.stride.h < 1 || o.stride.w < 1) fail("stride must be ≥ 1, got " + o.stride.str());
  if (o.dilation.h < 1 || o.dilation.w < 1) fail("dilation must be ≥ 1, got " + o.dilation.str());
  const Size2d pad = o.padding.size();
  if (pad.h < 0 || pad.w < 0) fail("padding must be ≥ 0, got " + pad.str());
  if (o.padding.same() && (o.stride.h != 1 || o.stride.w != 1)) {
    fail("padding=\"same\" needs stride 1 (as in PyTorch), got stride " + o.stride.str());
  }
  if (o.groups < 1) fail("groups must be ≥ 1, got " + str(o.groups));
  if (o.in_channels % o.groups != 0 || o.out_channels % o.groups != 0) {
    fail("in_channels " + str(o.in_channels) + " and out_channels " + str(o.out_channels) +
         " must both be divisible by groups " + str(o.groups));
  }
}

// Zero rows appended at the bottom (dim 2) and columns at the right (dim 3).
Tensor pad_bottom_right(const Tensor& x, std::int64_t rows, std::int64_t cols) {
  Tensor out = x;
  if (rows > 0) {
    out = concat({out, Tensor::zeros({out.size(0), out.size(1), rows, out.size(3)}, x.dtype(), x.device())}, 2);
  }
  if (cols > 0) {
    out = concat({out, Tensor::zeros({out.size(0), out.size(1), out.size(2), cols}, x.dtype(), x.device())}, 3);
  }
  return out;
}

}  // namespace

Conv2dPadding::Conv2dPadding(const std::string& mode) {
  if (mode == "same") {
    same_ = true;
  } else if (mode != "valid") {
    throw Error("Conv2d: padding mode must be \"same\" or \"valid\", got \"" + mode + "\"");
  }
}

Conv2d::Conv2d(const Conv2dOptions& options, Generator& gen) : options_(options) {
  check_options(options_);
  const Conv2dOptions& o = options_;
  weight_ = register_parameter(
      "weight", Tensor::empty({o.out_channels, o.in_channels / o.groups, o.kernel_size.h, o.kernel_size.w}));
  if (o.bias) bias_ = register_parameter("bias", Tensor::empty({o.out_channels}));
  if (o.init == Init::torch_default) {
    // torch.nn.Conv2d.reset_parameters: kaiming_uniform(a=√5) = U(±1/√fan_in), bias likewise.
    init::kaiming_uniform_(weight_, gen, std::sqrt(5.0));
    if (bias_.defined()) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in_and_fan_out(weight_).first));
      init::uniform_(bias_, -bound, bound, gen);
    }
  } else {
    init::apply_(weight_, o.init, gen);
    if (bias_.defined()) init::zeros_(bias_);
  }
}

Conv2d::Conv2d(const Conv2dOptions& options) : Conv2d(options, default_generator()) {}

Tensor Conv2d::forward(const Tensor& x) {
  const Conv2dOptions& o = options_;
  if (!x.defined() || x.dim() != 4 || x.size(1) != o.in_channels) {
    throw Error(name() + ": expected input [N, " + str(o.in_channels) + ", H, W], got " +
                (x.defined() ? x.str() : std::string("an undefined tensor")));
  }
  kiln::Conv2dOptions conv{.stride_h = o.stride.h, .stride_w = o.stride.w, .pad_h = o.padding.size().h,
                           .pad_w = o.padding.size().w, .dil_h = o.dilation.h, .dil_w = o.dilation.w,
                           .groups = o.groups};
  if (!o.padding.same()) return conv2d(x, weight_, bias_, conv);
  // "same": the kernel's extent minus one, split evenly, the odd pixel at the end.
  const std::int64_t total_h = o.dilation.h * (o.kernel_size.h - 1), total_w = o.dilation.w * (o.kernel_size.w - 1);
  conv.pad_h = total_h / 2;
  conv.pad_w = total_w / 2;
  return conv2d(pad_bottom_right(x, total_h % 2, total_w % 2), weight_, bias_, conv);
}

std::string Conv2d::name() const {
  const Conv2dOptions& o = options_;
  std::string s = "Conv2d(" + str(o.in_channels) + ", " + str(o.out_channels) +
                  ", kernel_size=" + o.kernel_size.str() + ", stride=" + o.stride.str();
  if (o.padding.same()) {
    s += ", padding=same";
  } else if (o.padding.size() != Size2d(0)) {
    s += ", padding=" + o.padding.size().str();
  }
  if (o.dilation != Size2d(1)) s += ", dilation=" + o.dilation.str();
  if (o.groups != 1) s += ", groups=" + str(o.groups);
  if (!o.bias) s += ", bias=false";
  if (o.init != Init::torch_default) s += std::string(", init=") + init_name(o.init);
  return s + ")";
}

}  // namespace kiln::nn
