// conv2d, max_pool2d and batch_norm: values against direct loops, gradients
// against finite differences, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "gradcheck.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/conv_kernels.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

// Direct convolution in f64 from the definition, for reference values.
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o,
                                Shape* out_shape) {
  const auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>();
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t O = w.size(0), kh = w.size(2), kw = w.size(3);
  const std::int64_t oh = (H + 2 * o.pad_h - o.dil_h * (kh - 1) - 1) / o.stride_h + 1;
  const std::int64_t ow = (W + 2 * o.pad_w - o.dil_w * (kw - 1) - 1) / o.stride_w + 1;
  *out_shape = {N, O, oh, ow};
  std::vector<double> y(static_cast<std::size_t>(N * O * oh * ow));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t f = 0; f < O; ++f)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double acc = bv.empty() ? 0.0 : bv[f];
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t p = 0; p < kh; ++p)
              for (std::int64_t q = 0; q < kw; ++q) {
                const std::int64_t iy = i * o.stride_h - o.pad_h + p * o.dil_h;
                const std::int64_t ix = j * o.stride_w - o.pad_w + q * o.dil_w;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += xv[((n * C + c) * H + iy) * W + ix] * wv[((f * C + c) * kh + p) * kw + q];
              }
          y[((n * O + f) * oh + i) * ow + j] = acc;
        }
  return y;
}

const std::vector<Conv2dOptions> kOptions = {
    {},                                                                // plain
    {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},            // strided, padded
    {.pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2},                  // dilated
    {.stride_h = 2, .stride_w = 1, .pad_h = 0, .pad_w = 1, .dil_h = 1, .dil_w = 2},  // mixed per axis
    {.stride_h = 3, .stride_w = 2, .pad_h = 1, .pad_w = 2},            // stride not dividing the extent
};

TEST(Conv2d, MatchesDirectConvolution) {
  Generator gen(11);
  for (const Conv2dOptions& o : kOptions) {
    for (const bool with_bias : {true, false}) {
      const Tensor x = randn({2, 3, 7, 8}, gen, DType::f64);
      const Tensor w = randn({4, 3, 3, 2}, gen, DType::f64);
      const Tensor b = with_bias ? randn({4}, gen, DType::f64) : Tensor();
      Shape shape;
      const auto ref = direct_conv(x, w, b, o, &shape);
      const Tensor y = conv2d(x, w, b, o);
      ASSERT_EQ(y.shape(), shape);
      const auto got = y.to_vector<double>();
      for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-12);
      // f32 goes through oneDNN's GEMM.
      const Tensor b32 = with_bias ? b.to(DType::f32) : Tensor();
      const auto got32 = conv2d(x.to(DType::f32), w.to(DType::f32), b32, o).to_vector<double>();
      for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got32[i], ref[i], 1e-5);
    }
  }
}

TEST(Conv2d, Bf16ComputesInFloat) {
  Generator gen(14);
  const Tensor x = randn({2, 3, 6, 6}, gen, DType::f64), w = randn({4, 3, 3, 3}, gen, DType::f64);
  const Tensor b = randn({4}, gen, DType::f64);
  const Conv2dOptions o{.pad_h = 1, .pad_w = 1};
  Shape shape;
  const auto ref = direct_conv(x.to(DType::bf16), w.to(DType::bf16), b.to(DType::bf16), o, &shape);
  const auto got = conv2d(x.to(DType::bf16), w.to(DType::bf16), b.to(DType::bf16), o).to_vector<double>();
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 0.02 + 0.01 * std::fabs(ref[i]));
  const auto pooled = max_pool2d(x.to(DType::bf16), 2, 2).to_vector<double>();
  EXPECT_EQ(pooled, max_pool2d(x.to(DType::bf16).to(DType::f64), 2, 2).to_vector<double>());
}

TEST(Conv2d, GradientsOverStridePaddingDilationAndLayouts) {
  Generator gen(12);
  for (const Conv2dOptions& o : kOptions) {
    for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
      const Tensor x = make_input({2, 2, 6, 5}, gen, layout);
      const Tensor w = make_input({3, 2, 3, 2}, gen, layout == Layout::sliced ? Layout::transposed : layout);
      const Tensor b = make_input({3}, gen);
      EXPECT_LT(gradcheck_error([&](const auto& v) { return conv2d(v[0], v[1], v[2], o); }, {x, w, b}), 1e-6)
          << "stride " << o.stride_h << "," << o.stride_w << " pad " << o.pad_h << "," << o.pad_w << " dil "
          << o.dil_h << "," << o.dil_w;
    }
  }
  // Without bias, and with only some inputs requiring grad.
  const Tensor x = make_input({1, 2, 5, 5}, gen);
  const Tensor w = make_input({2, 2, 2, 2}, gen);
  EXPECT_LT(gradcheck_error([](const auto& v) { return conv2d(v[0], v[1], Tensor()); }, {x, w}), 1e-6);
  const Tensor w_fixed = randn({2, 2, 2, 2}, gen, DType::f64);
  EXPECT_LT(gradcheck_error([&](const auto& v) { return conv2d(v[0], w_fixed, Tensor()); }, {x}), 1e-6);
}

TEST(Conv2d, ChunkedBatchMatchesPerImage) {
  // 160 images of 3x64x64 with a 3x3 kernel need more than one cols chunk.
  Generator gen(13);
  const Tensor x = randn({160, 3, 64, 64}, gen);
  Tensor w = randn({4, 3, 3, 3}, gen).detach();
  w.set_requires_grad(true);
  const Conv2dOptions o{.pad_h = 1, .pad_w = 1};
  const Tensor y = conv2d(x, w, Tensor(), o);
  sum(y).backward();
  const auto dw = w.grad().to_vector<double>();
  std::vector<double> dw_ref(dw.size(), 0.0);
  for (std::int64_t n0 = 0; n0 < 160; n0 += 40) {
    Tensor wc = w.detach().clone();
    wc.set_requires_grad(true);
    const Tensor part = conv2d(x.slice(0, n0, n0 + 40), wc, Tensor(), o);
    const auto got = y.slice(0, n0, n0 + 40).to_vector<float>();
    const auto ref = part.to_vector<float>();
    for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5F * (1.0F + std::fabs(ref[i])));
    sum(part).backward();
    const auto g = wc.grad().to_vector<double>();
    for (std::size_t i = 0; i < g.size(); ++i) dw_ref[i] += g[i];
  }
  for (std::size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], dw_ref[i], 1e-3 * std::fabs(dw_ref[i]) + 1e-2);
}

// ---- the backend's direct f32 convolution -----------------------------------
// f32 runs on the CPU's direct kernels (oneDNN, ops/conv_kernels.h), f64 on
// im2col + GEMM; the two must agree on values and on every gradient, to f32
// rounding (a weight gradient sums N·oh·ow products).

struct ConvRun {
  Tensor y, dx, dw, db;
};

// conv2d of x0, w0, b0 converted to dtype (x as a non-contiguous view when
// `strided_input`), then backward of sum(y * gy) into the inputs asked for.
ConvRun run_conv(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy, const Conv2dOptions& o,
                 DType dtype, bool strided_input, bool gx, bool gw, bool gb) {
  const auto leaf = [](const Tensor& t, bool grad) {
    Tensor l = t.detach();
    l.set_requires_grad(grad);
    return l;
  };
  // Same values, but with the last two axes stored swapped.
  const Tensor xv = strided_input ? x0.to(dtype).transpose(2, 3).contiguous().transpose(2, 3) : x0.to(dtype);
  const Tensor x = leaf(xv, gx), w = leaf(w0.to(dtype), gw);
  const Tensor b = b0.defined() ? leaf(b0.to(dtype), gb) : Tensor();
  const Tensor y = conv2d(x, w, b, o);
  if (gx || gw || gb) sum(mul(y, gy.to(dtype))).backward();
  return {y, gx ? x.grad() : Tensor(), gw ? w.grad() : Tensor(), gb ? b.grad() : Tensor()};
}

// Largest |a - b| / (1 + |b|) over all elements.
double rel_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < av.size() && i < bv.size(); ++i) {
    worst = std::max(worst, std::fabs(av[i] - bv[i]) / (1.0 + std::fabs(bv[i])));
  }
  return worst;
}

struct DirectCase {
  std::int64_t C, O;
  Conv2dOptions o;
};
const std::vector<DirectCase> kDirectCases = {
    {3, 4, {}},
    {3, 4, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}},
    {3, 4, {.pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2}},
    {3, 4, {.stride_h = 2, .stride_w = 1, .pad_h = 0, .pad_w = 1, .dil_h = 1, .dil_w = 2}},
    {3, 4, {.stride_h = 3, .stride_w = 2, .pad_h = 1, .pad_w = 2}},
    {1, 32, {.pad_h = 1, .pad_w = 1}},                                                         // a first layer
    {32, 16, {.pad_h = 1, .pad_w = 1}},                                                        // blocked channels
    {4, 6, {.groups = 2}},
    {6, 6, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 2, .dil_w = 1, .groups = 3}},
    {4, 4, {.pad_h = 1, .pad_w = 1, .groups = 4}},                                             // depthwise
};

TEST(Conv2dDirect, F32MatchesF64ValuesAndGradients) {
  // The f32 path below must be the backend's direct kernel, not the GEMM
  // lowering (the first tensor registers the CPU backend's kernels).
  (void)Tensor::zeros({1});
  ASSERT_TRUE(conv2d_forward_kernels().supports(DeviceKind::cpu, DType::f32));
  ASSERT_TRUE(conv2d_backward_kernels().supports(DeviceKind::cpu, DType::f32));
  ASSERT_FALSE(conv2d_forward_kernels().supports(DeviceKind::cpu, DType::f64));
  Generator gen(15);
  for (const DirectCase& c : kDirectCases) {
    for (const bool with_bias : {true, false}) {
      for (const bool strided : {false, true}) {
        const Tensor x = randn({3, c.C, 9, 8}, gen, DType::f64);
        const Tensor w = randn({c.O, c.C / c.o.groups, 3, 2}, gen, DType::f64);
        const Tensor b = with_bias ? randn({c.O}, gen, DType::f64) : Tensor();
        const Tensor gy = randn(conv2d(x, w, b, c.o).shape(), gen, DType::f64);
        const ConvRun ref = run_conv(x, w, b, gy, c.o, DType::f64, false, true, true, with_bias);
        const ConvRun got = run_conv(x, w, b, gy, c.o, DType::f32, strided, true, true, with_bias);
        const std::string what = "C " + std::to_string(c.C) + " O " + std::to_string(c.O) + " groups " +
                                 std::to_string(c.o.groups) + " stride " + std::to_string(c.o.stride_h) + "," +
                                 std::to_string(c.o.stride_w) + " dil " + std::to_string(c.o.dil_h) + "," +
                                 std::to_string(c.o.dil_w) + (with_bias ? " bias" : "") + (strided ? " strided" : "");
        EXPECT_EQ(got.y.dtype(), DType::f32);
        EXPECT_LT(rel_error(got.y, ref.y), 1e-4) << what;
        EXPECT_LT(rel_error(got.dx, ref.dx), 1e-4) << what;
        EXPECT_LT(rel_error(got.dw, ref.dw), 1e-4) << what;
        if (with_bias) {
          EXPECT_LT(rel_error(got.db, ref.db), 1e-4) << what;
        }
      }
    }
  }
}

TEST(Conv2dDirect, EachGradientAloneMatchesF64) {
  // The backward kernel gets only the outputs asked for, including the bias
  // gradient without the weight's (it comes out of backward-weights).
  Generator gen(16);
  const Conv2dOptions o{.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  const Tensor x = randn({2, 5, 7, 6}, gen, DType::f64), w = randn({8, 5, 3, 3}, gen, DType::f64);
  const Tensor b = randn({8}, gen, DType::f64);
  const Tensor gy = randn(conv2d(x, w, b, o).shape(), gen, DType::f64);
  for (const int which : {0, 1, 2}) {
    const bool gx = which == 0, gw = which == 1, gb = which == 2;
    const ConvRun ref = run_conv(x, w, b, gy, o, DType::f64, false, gx, gw, gb);
    const ConvRun got = run_conv(x, w, b, gy, o, DType::f32, false, gx, gw, gb);
    EXPECT_EQ(got.dx.defined(), gx);
    EXPECT_EQ(got.dw.defined(), gw);
    EXPECT_EQ(got.db.defined(), gb);
    if (gx) {
      EXPECT_LT(rel_error(got.dx, ref.dx), 1e-4);
    }
    if (gw) {
      EXPECT_LT(rel_error(got.dw, ref.dw), 1e-4);
    }
    if (gb) {
      EXPECT_LT(rel_error(got.db, ref.db), 1e-4);
    }
  }
}

TEST(Conv2dDirect, ThreadCountAndManyShapesKeepResultsRight) {
  // Plans are cached per problem and thread count, and the cache drops old
  // plans when full: more shapes than it holds, on 1 and 2 threads, must all
  // still give the f64 result.
  const int saved = num_threads();
  Generator gen(17);
  const Conv2dOptions o{.pad_h = 1, .pad_w = 1};
  const Tensor w = randn({3, 2, 3, 3}, gen, DType::f64), b = randn({3}, gen, DType::f64);
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (std::int64_t width = 1; width <= 70; ++width) {
      const Tensor x = randn({2, 2, 4, width}, gen, DType::f64);
      const Tensor gy = randn({2, 3, 4, width}, gen, DType::f64);
      const ConvRun ref = run_conv(x, w, b, gy, o, DType::f64, false, true, true, true);
      const ConvRun got = run_conv(x, w, b, gy, o, DType::f32, false, true, true, true);
      const std::string what = "width " + std::to_string(width) + ", " + std::to_string(threads) + " threads";
      EXPECT_LT(rel_error(got.y, ref.y), 1e-4) << what;
      EXPECT_LT(rel_error(got.dx, ref.dx), 1e-4) << what;
      EXPECT_LT(rel_error(got.dw, ref.dw), 1e-4) << what;
      EXPECT_LT(rel_error(got.db, ref.db), 1e-4) << what;
    }
  }
  set_num_threads(saved);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Conv2d, ErrorsNameShapes) {
  const Tensor x = Tensor::zeros({2, 3, 5, 5});
  std::string msg = error_of([&] { (void)conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor()); });
  EXPECT_NE(msg.find("f32[2, 3, 5, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[4, 2, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("channels"), std::string::npos) << msg;
  msg = error_of([&] { (void)conv2d(x, Tensor::zeros({4, 3, 7, 3}), Tensor()); });
  EXPECT_NE(msg.find("larger than the padded input"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[2, 3, 5, 5]"), std::string::npos) << msg;
  EXPECT_EQ(conv2d(x, Tensor::zeros({4, 3, 7, 3}), Tensor(), {.pad_h = 1, .pad_w = 1}).shape(), (Shape{2, 4, 1, 5}));
  msg = error_of([&] { (void)conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({3})); });
  EXPECT_NE(msg.find("bias f32[3]"), std::string::npos) << msg;
  msg = error_of([&] { (void)conv2d(Tensor::zeros({3, 5, 5}), Tensor::zeros({4, 3, 3, 3}), Tensor()); });
  EXPECT_NE(msg.find("4-d"), std::string::npos) << msg;
  msg = error_of([&] { (void)conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), {.stride_h = 0}); });
  EXPECT_NE(msg.find("stride"), std::string::npos) << msg;
  msg = error_of([&] { (void)conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f64), Tensor()); });
  EXPECT_NE(msg.find("dtype"), std::string::npos) << msg;
}

// ---- max_pool2d -------------------------------------------------------------

std::vector<double> direct_pool(const Tensor& x, std::int64_t k_h, std::int64_t k_w, std::int64_t s_h,
                                std::int64_t s_w, std::int64_t p_h, std::int64_t p_w) {
  const auto xv = x.to_vector<double>();
  const std::int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t oh = (H + 2 * p_h - k_h) / s_h + 1, ow = (W + 2 * p_w - k_w) / s_w + 1;
  std::vector<double> y;
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t a = 0; a < k_h; ++a)
          for (std::int64_t b = 0; b < k_w; ++b) {
            const std::int64_t iy = i * s_h - p_h + a, ix = j * s_w - p_w + b;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = std::max(m, xv[(p * H + iy) * W + ix]);
          }
        y.push_back(m);
      }
  return y;
}

struct PoolCase {
  std::int64_t kh, kw, sh, sw, ph, pw;
};
const std::vector<PoolCase> kPools = {{2, 2, 0, 0, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 2, 1, 2, 0, 1}, {2, 3, 1, 1, 1, 0}};

TEST(MaxPool2d, MatchesDirectLoops) {
  Generator gen(21);
  const Tensor x = randn({2, 3, 7, 6}, gen, DType::f64);
  for (const PoolCase& c : kPools) {
    const Tensor y = max_pool2d(x, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw);
    const auto ref = direct_pool(x, c.kh, c.kw, c.sh ? c.sh : c.kh, c.sw ? c.sw : c.kw, c.ph, c.pw);
    EXPECT_EQ(y.to_vector<double>(), ref);
    EXPECT_EQ(max_pool2d(x.to(DType::f32), c.kh, c.kw, c.sh, c.sw, c.ph, c.pw).to_vector<double>(),
              y.to(DType::f32).to_vector<double>());
  }
  // 7x6 with a 2x2 window and stride 2 floors to 3x3; a 3-d input keeps its rank.
  EXPECT_EQ(max_pool2d(x, 2, 2).shape(), (Shape{2, 3, 3, 3}));
  EXPECT_EQ(max_pool2d(x.slice(0, 0, 1).squeeze(0), 2, 2).shape(), (Shape{3, 3, 3}));
}

TEST(MaxPool2d, GradientsOnRandomInputs) {
  Generator gen(22);
  for (const PoolCase& c : kPools) {
    for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
      // Random continuous values: ties (where the gradient is not defined) have probability zero.
      const Tensor x = make_input({2, 2, 6, 7}, gen, layout);
      EXPECT_LT(gradcheck_error([&](const auto& v) { return max_pool2d(v[0], c.kh, c.kw, c.sh, c.sw, c.ph, c.pw); },
                                {x}),
                1e-6);
    }
  }
}

TEST(MaxPool2d, NanAndInfinityFollowPyTorch) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = Tensor::from_vector<double>({-inf, -inf, -inf, -inf, 1, std::nan(""), 2, 3}, {1, 2, 2, 2});
  const auto y = max_pool2d(x, 2, 2).to_vector<double>();
  EXPECT_EQ(y[0], -inf);
  EXPECT_TRUE(std::isnan(y[1]));
  Tensor leaf = x.detach();
  leaf.set_requires_grad(true);
  sum(max_pool2d(leaf, 2, 2)).backward();
  // Every window routes its gradient to exactly one input.
  EXPECT_EQ(sum(leaf.grad()).item(), 2.0);
}

TEST(MaxPool2d, Errors) {
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  std::string msg = error_of([&] { (void)max_pool2d(x, 2, 2, 0, 0, 2, 0); });
  EXPECT_NE(msg.find("half the kernel"), std::string::npos) << msg;
  msg = error_of([&] { (void)max_pool2d(x, 5, 2); });
  EXPECT_NE(msg.find("f32[1, 2, 4, 4]"), std::string::npos) << msg;
  msg = error_of([&] { (void)max_pool2d(Tensor::zeros({4, 4}), 2, 2); });
  EXPECT_NE(msg.find("f32[4, 4]"), std::string::npos) << msg;
}

// ---- batch_norm -------------------------------------------------------------

TEST(BatchNorm, TrainingNormalisesAndUpdatesRunningStats) {
  Generator gen(31);
  const Tensor x = add(mul(randn({4, 3, 5, 2}, gen, DType::f64), 3.0), 1.5);
  Tensor rm = Tensor::full({3}, 0.5, DType::f64), rv = Tensor::full({3}, 2.0, DType::f64);
  const Tensor w = Tensor::from_vector<double>({1.0, 2.0, -1.0}, {3});
  const Tensor b = Tensor::from_vector<double>({0.0, 0.5, 1.0}, {3});
  const Tensor y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const auto rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
  const double wv[] = {1.0, 2.0, -1.0}, bv[] = {0.0, 0.5, 1.0};
  for (int c = 0; c < 3; ++c) {
    double s = 0, ss = 0;
    const int n = 4 * 5 * 2;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 10; ++j) s += xv[(i * 3 + c) * 10 + j];
    const double mu = s / n;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 10; ++j) ss += std::pow(xv[(i * 3 + c) * 10 + j] - mu, 2);
    const double var = ss / n;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 10; ++j) {
        const int k = (i * 3 + c) * 10 + j;
        EXPECT_NEAR(yv[k], (xv[k] - mu) / std::sqrt(var + 1e-5) * wv[c] + bv[c], 1e-12);
      }
    EXPECT_NEAR(rmv[c], 0.9 * 0.5 + 0.1 * mu, 1e-12);
    EXPECT_NEAR(rvv[c], 0.9 * 2.0 + 0.1 * ss / (n - 1), 1e-12);
  }
  // Eval mode normalises with the (updated) running statistics.
  const auto ye = batch_norm(x, rm, rv, w, b, false).to_vector<double>();
  for (std::size_t k = 0; k < xv.size(); ++k) {
    const std::size_t c = (k / 10) % 3;
    EXPECT_NEAR(ye[k], (xv[k] - rmv[c]) / std::sqrt(rvv[c] + 1e-5) * wv[c] + bv[c], 1e-12);
  }
  EXPECT_EQ(rm.to_vector<double>(), rmv);  // eval leaves the buffers alone
}

TEST(BatchNorm, GradientsInTrainingAndEval) {
  Generator gen(32);
  for (const Shape& shape : {Shape{5, 3}, Shape{3, 2, 4}, Shape{2, 3, 3, 2}}) {
    for (const Layout layout : {Layout::contiguous, Layout::transposed}) {
      const Tensor x = make_input(shape, gen, layout);
      const std::int64_t C = shape[1];
      const Tensor w = make_input({C}, gen), b = make_input({C}, gen);
      EXPECT_LT(gradcheck_error([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
                                {x, w, b}),
                1e-6)
          << shape_str(shape);
      const Tensor rm = randn({C}, gen, DType::f64), rv = uniform({C}, 0.5, 2.0, gen, DType::f64);
      EXPECT_LT(gradcheck_error([&](const auto& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); },
                                {x, w, b}),
                1e-6)
          << shape_str(shape);
      // Training with buffers: gradients are those of batch statistics (buffers just drift).
      Tensor rm2 = Tensor::zeros({C}, DType::f64), rv2 = Tensor::ones({C}, DType::f64);
      EXPECT_LT(gradcheck_error([&](const auto& v) { return batch_norm(v[0], rm2, rv2, Tensor(), Tensor(), true); },
                                {x}),
                1e-6);
    }
  }
}

TEST(BatchNorm, Errors) {
  std::string msg = error_of([] {
    (void)batch_norm(Tensor::zeros({1, 3}), Tensor::zeros({3}), Tensor::ones({3}), Tensor(), Tensor(), true);
  });
  EXPECT_NE(msg.find("more than 1 value per channel"), std::string::npos) << msg;
  msg = error_of([] {
    (void)batch_norm(Tensor::zeros({2, 3, 4}), Tensor::zeros({4}), Tensor::ones({4}), Tensor(), Tensor(), true);
  });
  EXPECT_NE(msg.find("f32[4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[2, 3, 4]"), std::string::npos) << msg;
  // Eval mode with running stats works for a single sample.
  EXPECT_EQ(batch_norm(Tensor::zeros({1, 3}), Tensor::zeros({3}), Tensor::ones({3}), Tensor(), Tensor(), false)
                .shape(),
            (Shape{1, 3}));
}

}  // namespace
}  // namespace kiln
