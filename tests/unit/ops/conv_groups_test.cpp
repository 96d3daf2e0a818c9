// Grouped conv2d: each group equals an ungrouped convolution of its own
// channel slice (values and gradients), finite differences in f64 including
// depthwise, and the errors for channel counts groups cannot split.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

// The grouped convolution as `groups` ungrouped ones on channel slices, joined.
Tensor conv_by_slices(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dOptions o) {
  const std::int64_t groups = o.groups;
  const std::int64_t cg = x.size(1) / groups, og = w.size(0) / groups;
  o.groups = 1;
  std::vector<Tensor> parts;
  for (std::int64_t k = 0; k < groups; ++k) {
    const Tensor bk = b.defined() ? b.slice(0, k * og, (k + 1) * og) : Tensor();
    parts.push_back(conv2d(x.slice(1, k * cg, (k + 1) * cg), w.slice(0, k * og, (k + 1) * og), bk, o));
  }
  return concat(parts, 1);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < av.size(); ++i) worst = std::max(worst, std::fabs(av[i] - bv[i]));
  return worst;
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.detach().clone();
  l.set_requires_grad(true);
  return l;
}

struct GroupCase {
  std::int64_t C, O, groups;
  Conv2dOptions o;
};
const std::vector<GroupCase> kCases = {
    {4, 6, 2, {.groups = 2}},
    {6, 6, 3, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 3}},
    {4, 4, 4, {.pad_h = 1, .pad_w = 1, .groups = 4}},                          // depthwise
    {3, 6, 3, {.pad_h = 2, .pad_w = 1, .dil_h = 2, .dil_w = 1, .groups = 3}},  // depthwise, 2 filters each
};

TEST(Conv2dGroups, EqualsUngroupedConvolutionPerChannelSlice) {
  Generator gen(61);
  for (const GroupCase& c : kCases) {
    for (const DType dtype : {DType::f64, DType::f32}) {
      const Tensor x0 = randn({3, c.C, 7, 6}, gen, dtype);
      const Tensor w0 = randn({c.O, c.C / c.groups, 3, 2}, gen, dtype), b0 = randn({c.O}, gen, dtype);
      const Tensor g = randn(conv2d(x0, w0, b0, c.o).shape(), gen, dtype);
      const Tensor x = leaf(x0), w = leaf(w0), b = leaf(b0);
      const Tensor xr = leaf(x0), wr = leaf(w0), br = leaf(b0);
      const Tensor y = conv2d(x, w, b, c.o), yr = conv_by_slices(xr, wr, br, c.o);
      sum(mul(y, g)).backward();
      sum(mul(yr, g)).backward();
      const double tol = dtype == DType::f64 ? 1e-12 : 1e-4;
      const std::string what = "groups " + std::to_string(c.groups) + " " + dtype_name(dtype);
      EXPECT_LT(max_abs_diff(y, yr), tol) << what;
      EXPECT_LT(max_abs_diff(x.grad(), xr.grad()), tol) << what;
      EXPECT_LT(max_abs_diff(w.grad(), wr.grad()), tol) << what;
      EXPECT_LT(max_abs_diff(b.grad(), br.grad()), tol) << what;
    }
  }
}

TEST(Conv2dGroups, DepthwiseHandComputed) {
  // Two channels, one 1x2 filter each: channel 0 sums neighbours, channel 1 takes their difference.
  const Tensor x = Tensor::from_vector<float>({1, 2, 4, 10, 20, 40}, {1, 2, 1, 3});
  const Tensor w = Tensor::from_vector<float>({1, 1, 1, -1}, {2, 1, 1, 2});
  EXPECT_EQ(conv2d(x, w, Tensor(), {.groups = 2}).to_vector<float>(), (std::vector<float>{3, 6, -10, -20}));
}

TEST(Conv2dGroups, GradcheckInF64) {
  Generator gen(62);
  for (const GroupCase& c : kCases) {
    for (const Layout layout : {Layout::contiguous, Layout::transposed}) {
      const Tensor x = make_input({2, c.C, 5, 6}, gen, layout);
      const Tensor w = make_input({c.O, c.C / c.groups, 3, 2}, gen, layout);
      const Tensor b = make_input({c.O}, gen);
      EXPECT_LT(gradcheck_error([&](const auto& v) { return conv2d(v[0], v[1], v[2], c.o); }, {x, w, b}), 1e-6)
          << "groups " << c.groups;
    }
  }
}

TEST(Conv2dGroups, ErrorsNameGroupsAndShapes) {
  const Tensor x = Tensor::zeros({1, 4, 5, 5});
  test::expect_contains(test::error_of([&] { (void)conv2d(x, Tensor::zeros({6, 4, 3, 3}), Tensor(), {.groups = 2}); }),
                        {"conv2d", "groups=2", "expects 8", "f32[1, 4, 5, 5]"});
  test::expect_contains(test::error_of([&] { (void)conv2d(x, Tensor::zeros({3, 2, 3, 3}), Tensor(), {.groups = 2}); }),
                        {"conv2d", "3 output channels", "groups=2"});
  test::expect_contains(test::error_of([&] { (void)conv2d(x, Tensor::zeros({4, 4, 3, 3}), Tensor(), {.groups = 0}); }),
                        {"conv2d", "groups must be ≥ 1"});
}

}  // namespace
}  // namespace kiln
