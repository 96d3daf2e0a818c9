// avg_pool2d: values against direct loops (both divisor rules), gradients
// against finite differences, and argument errors; max_pool2d's tie rule on
// both kernel paths (conv_test.cpp holds its values, gradients and errors).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kiln/ops/pooling.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

std::vector<double> direct_avg_pool(const Tensor& x, const Pool2dOptions& o) {
  const auto xv = x.to_vector<double>();
  const std::int64_t sh = o.stride_h ? o.stride_h : o.kernel_h, sw = o.stride_w ? o.stride_w : o.kernel_w;
  const std::int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t oh = (H + 2 * o.pad_h - o.kernel_h) / sh + 1, ow = (W + 2 * o.pad_w - o.kernel_w) / sw + 1;
  std::vector<double> y;
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        double s = 0;
        int real = 0;
        for (std::int64_t a = 0; a < o.kernel_h; ++a)
          for (std::int64_t b = 0; b < o.kernel_w; ++b) {
            const std::int64_t iy = i * sh - o.pad_h + a, ix = j * sw - o.pad_w + b;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
              s += xv[(p * H + iy) * W + ix];
              ++real;
            }
          }
        y.push_back(s / (o.count_include_pad ? static_cast<double>(o.kernel_h * o.kernel_w) : real));
      }
  return y;
}

const std::vector<Pool2dOptions> kPools = {
    {.kernel_h = 2, .kernel_w = 2},
    {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
    {.kernel_h = 3, .kernel_w = 2, .stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 1},
    {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 0},
};

TEST(AvgPool2d, MatchesDirectLoopsWithAndWithoutPaddingInTheCount) {
  Generator gen(51);
  const Tensor x = randn({2, 3, 7, 6}, gen, DType::f64);
  for (Pool2dOptions o : kPools) {
    for (const bool include : {true, false}) {
      o.count_include_pad = include;
      const auto want = direct_avg_pool(x, o);
      EXPECT_EQ(avg_pool2d(x, o).numel(), static_cast<std::int64_t>(want.size()));
      const auto got = avg_pool2d(x, o).to_vector<double>();
      for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12);
      const auto got32 = avg_pool2d(x.to(DType::f32), o).to_vector<double>();
      for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got32[i], want[i], 1e-5);
    }
  }
  // A 3-d input is one image.
  const Tensor one = x.slice(0, 0, 1).squeeze(0);
  EXPECT_EQ(avg_pool2d(one, kPools[1]).to_vector<double>(),
            avg_pool2d(x.slice(0, 0, 1), kPools[1]).squeeze(0).to_vector<double>());
}

TEST(AvgPool2d, HandComputedCorner) {
  // 3x3 window, stride 1, padding 1 on a 2x2 image of ones: each window sees 4 of its 9 pixels.
  const Tensor x = Tensor::ones({1, 1, 2, 2});
  Pool2dOptions o{.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  EXPECT_EQ(avg_pool2d(x, o).to_vector<float>(), std::vector<float>(4, 4.0F / 9.0F));
  o.count_include_pad = false;
  EXPECT_EQ(avg_pool2d(x, o).to_vector<float>(), std::vector<float>(4, 1.0F));
}

TEST(AvgPool2d, GradientsOnEveryWindowAndLayout) {
  Generator gen(52);
  for (Pool2dOptions o : kPools) {
    for (const bool include : {true, false}) {
      o.count_include_pad = include;
      for (const Layout layout : test::kLayouts) {
        const Tensor x = make_input({2, 2, 5, 6}, gen, layout);
        EXPECT_LT(gradcheck_error([&](const auto& v) { return avg_pool2d(v[0], o); }, {x}), 1e-6)
            << "kernel " << o.kernel_h << "x" << o.kernel_w << " include_pad " << include;
      }
    }
  }
}

TEST(AvgPool2d, Errors) {
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  test::expect_contains(test::error_of([&] { (void)avg_pool2d(x, {.kernel_h = 2, .kernel_w = 2, .pad_h = 2}); }),
                        {"avg_pool2d", "padding", "half the kernel"});
  test::expect_contains(test::error_of([&] { (void)avg_pool2d(x, {.kernel_h = 0, .kernel_w = 2}); }),
                        {"avg_pool2d", "kernel (0, 2)"});
  test::expect_contains(test::error_of([&] { (void)avg_pool2d(x, {.kernel_h = 5, .kernel_w = 2}); }),
                        {"avg_pool2d", "larger than the padded input", "f32[1, 2, 4, 4]"});
  test::expect_contains(test::error_of([] { (void)avg_pool2d(Tensor::zeros({4, 4}), {.kernel_h = 2}); }),
                        {"avg_pool2d", "[N, C, H, W]", "f32[4, 4]"});
  test::expect_contains(
      test::error_of([] { (void)avg_pool2d(Tensor::zeros({1, 1, 4, 4}, DType::i64), {.kernel_h = 2}); }),
      {"avg_pool2d", "floating point"});
}

// Equal values: the gradient goes to the first tap in row-major window order,
// as in PyTorch, on the 2x2/stride-2 path and on the general one; rows and
// columns past the last whole window get nothing.
TEST(MaxPool2dTies, GradientGoesToTheFirstTapOnEveryKernelPath) {
  Tensor x = Tensor::ones({1, 1, 5, 5});
  x.set_requires_grad(true);
  sum(max_pool2d(x, 2, 2)).backward();  // 2x2, stride 2: the specialised kernel
  std::vector<float> want(25, 0.0F);
  for (const int k : {0, 2, 10, 12}) want[static_cast<std::size_t>(k)] = 1.0F;
  EXPECT_EQ(x.grad().to_vector<float>(), want);
  x.zero_grad();
  sum(max_pool2d(x, 2, 2, 1, 1)).backward();  // stride 1: the general kernel; window (i, j) picks (i, j)
  std::vector<float> want1(25, 0.0F);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) want1[static_cast<std::size_t>(i * 5 + j)] = 1.0F;
  EXPECT_EQ(x.grad().to_vector<float>(), want1);
}

}  // namespace
}  // namespace kiln
