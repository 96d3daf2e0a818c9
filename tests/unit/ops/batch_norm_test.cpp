// The fused batch_norm kernels against the same formula composed from
// elementwise ops and reductions (values and autograd gradients), finite
// differences in f64, and the properties the fusion must keep: accurate
// variance when the mean is large, results independent of the thread count,
// 16-bit inputs computed in f32. (ops/conv_test.cpp holds the hand-computed
// values, running-stat updates and errors.)
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kiln/core/parallel.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

// [1, C, 1, ...] for a per-channel vector of x.
Shape channel_shape(const Tensor& x) {
  Shape s(static_cast<std::size_t>(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

std::vector<std::int64_t> reduced_dims(const Tensor& x) {
  std::vector<std::int64_t> dims{0};
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// Batch norm written out with ops: (x - mean)/√(var + eps)·w + b, batch
// statistics (biased variance) or the given running ones.
Tensor composed_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv,
                           bool batch_stats, double eps) {
  const Shape cs = channel_shape(x);
  Tensor xhat;
  if (batch_stats) {
    const auto dims = reduced_dims(x);
    const Tensor centered = sub(x, mean(x, dims, true));
    xhat = mul(centered, rsqrt(add(mean(square(centered), dims, true), eps)));
  } else {
    xhat = mul(sub(x, rm.reshape(cs)), rsqrt(add(rv.reshape(cs), eps)));
  }
  return add(mul(xhat, w.reshape(cs)), b.reshape(cs));
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

// Shapes that take each path of the CPU kernel: S = 1 with more than one
// 64-channel block, S below the 16 lanes (also over several blocks), S a
// multiple of 16, S with a tail.
const std::vector<Shape> kShapes = {{50, 70}, {6, 5, 3}, {3, 4, 16}, {4, 3, 9, 7}, {2, 130, 5}};

TEST(BatchNormFused, MatchesComposedFormulaForwardAndBackward) {
  Generator gen(41);
  for (const Shape& shape : kShapes) {
    for (const bool training : {true, false}) {
      for (const DType dtype : {DType::f64, DType::f32}) {
        const std::int64_t C = shape[1];
        const Tensor x0 = add(mul(randn(shape, gen, DType::f64), 2.0), 0.5);
        const Tensor w0 = randn({C}, gen, DType::f64), b0 = randn({C}, gen, DType::f64);
        const Tensor rm = randn({C}, gen, DType::f64), rv = uniform({C}, 0.5, 2.0, gen, DType::f64);
        const Tensor g = randn(shape, gen, DType::f64);
        // Reference in f64 through the composed ops and autograd.
        const Tensor xr = leaf(x0), wr = leaf(w0), br = leaf(b0);
        const Tensor yr = composed_batch_norm(xr, wr, br, rm, rv, training, 1e-5);
        sum(mul(yr, g)).backward();
        // The fused op in `dtype` (training without buffers: batch statistics, no updates).
        const Tensor x = leaf(x0.to(dtype)), w = leaf(w0.to(dtype)), b = leaf(b0.to(dtype));
        const Tensor y = training ? batch_norm(x, Tensor(), Tensor(), w, b, true)
                                  : batch_norm(x, rm.to(dtype), rv.to(dtype), w, b, false);
        sum(mul(y, g.to(dtype))).backward();
        const double tol = dtype == DType::f64 ? 1e-10 : 2e-4;
        const std::string what = shape_str(shape) + (training ? " train " : " eval ") + dtype_name(dtype);
        EXPECT_LT(max_abs_diff(y, yr), tol) << "y " << what;
        EXPECT_LT(max_abs_diff(x.grad(), xr.grad()), tol) << "dx " << what;
        // Σ over up to 3,500 values per channel: compare relative to the sums' size.
        const double sum_tol = tol * std::sqrt(static_cast<double>(x0.numel() / C));
        EXPECT_LT(max_abs_diff(w.grad(), wr.grad()), sum_tol) << "dweight " << what;
        EXPECT_LT(max_abs_diff(b.grad(), br.grad()), sum_tol) << "dbias " << what;
      }
    }
  }
}

TEST(BatchNormFused, GradcheckInF64OnEveryKernelPath) {
  Generator gen(42);
  for (const Shape& shape : {Shape{7, 3}, Shape{3, 2, 5}, Shape{2, 3, 9}, Shape{2, 2, 4, 5}}) {
    const std::int64_t C = shape[1];
    const Tensor x = make_input(shape, gen, Layout::transposed);
    const Tensor w = make_input({C}, gen), b = make_input({C}, gen);
    EXPECT_LT(gradcheck_error([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
                              {x, w, b}),
              1e-6)
        << shape_str(shape);
    const Tensor rm = randn({C}, gen, DType::f64), rv = uniform({C}, 0.5, 2.0, gen, DType::f64);
    EXPECT_LT(gradcheck_error([&](const auto& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); }, {x, w, b}),
              1e-6)
        << shape_str(shape);
    // Only the affine parameters want gradients (a frozen feature extractor below).
    const Tensor x_fixed = randn(shape, gen, DType::f64);
    EXPECT_LT(gradcheck_error([&](const auto& v) { return batch_norm(x_fixed, Tensor(), Tensor(), v[0], v[1], true); },
                              {w, b}),
              1e-6)
        << shape_str(shape);
  }
}

TEST(BatchNormFused, VarianceStaysAccurateWhenTheMeanIsLarge) {
  // Spread 1e-3 around 1e6: Σx² - (Σx)²/n in f64 would lose every digit of the variance.
  Generator gen(43);
  const Tensor x = add(mul(randn({16, 2, 40}, gen, DType::f64), 1e-3), 1e6);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::zeros({2}, DType::f64);
  const Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 1.0, 0.0);
  // Two-pass reference in long double (a plain f64 sum of 640 values near 1e6
  // is itself off by ~1e-9, a visible fraction of the 1e-3 spread).
  const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    long double s = 0;
    for (int n = 0; n < 16; ++n)
      for (int i = 0; i < 40; ++i) s += xv[(n * 2 + c) * 40 + i];
    const long double mu = s / 640;
    long double ss = 0;
    for (int n = 0; n < 16; ++n)
      for (int i = 0; i < 40; ++i) ss += (xv[(n * 2 + c) * 40 + i] - mu) * (xv[(n * 2 + c) * 40 + i] - mu);
    const auto var = static_cast<double>(ss / 640);
    EXPECT_NEAR(rv.to_vector<double>()[c], var * 640 / 639, 1e-9 * var);  // momentum 1: the batch's unbiased variance
    for (int n = 0; n < 16; ++n)
      for (int i = 0; i < 40; ++i) {
        const int k = (n * 2 + c) * 40 + i;
        EXPECT_NEAR(yv[k], static_cast<double>((xv[k] - mu) / std::sqrt(var)), 1e-6);
      }
  }
}

TEST(BatchNormFused, SameBitsForAnyThreadCount) {
  Generator gen(44);
  const Tensor x0 = randn({8, 32, 12, 12}, gen), g = randn({8, 32, 12, 12}, gen);
  const Tensor w0 = randn({32}, gen), b0 = randn({32}, gen);
  auto run = [&] {
    const Tensor x = leaf(x0), w = leaf(w0), b = leaf(b0);
    Tensor rm = Tensor::zeros({32}), rv = Tensor::ones({32});
    const Tensor y = batch_norm(x, rm, rv, w, b, true);
    sum(mul(y, g)).backward();
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(), b.grad().to_vector<float>(),
                                           rm.to_vector<float>(), rv.to_vector<float>()};
  };
  const int saved = num_threads();
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(BatchNormFused, Bf16ComputesInFloat) {
  Generator gen(45);
  const Tensor x = randn({4, 3, 5, 5}, gen).to(DType::bf16).to(DType::f32);  // values bf16 can hold
  const Tensor w = randn({3}, gen).to(DType::bf16).to(DType::f32), b = randn({3}, gen).to(DType::bf16).to(DType::f32);
  const Tensor want = batch_norm(x, Tensor(), Tensor(), w, b, true);
  const Tensor got = batch_norm(x.to(DType::bf16), Tensor(), Tensor(), w.to(DType::bf16), b.to(DType::bf16), true);
  EXPECT_EQ(got.dtype(), DType::bf16);
  const auto gv = got.to_vector<double>(), wv = want.to_vector<double>();
  for (std::size_t i = 0; i < gv.size(); ++i) EXPECT_NEAR(gv[i], wv[i], 0.01 * (1 + std::fabs(wv[i])));
}

TEST(BatchNormFused, EmptyBatchInEvalAndBadEps) {
  const Tensor x = Tensor::zeros({0, 3, 4});
  EXPECT_EQ(batch_norm(x, Tensor::zeros({3}), Tensor::ones({3}), Tensor(), Tensor(), false).shape(), x.shape());
  test::expect_contains(test::error_of([] {
                          (void)batch_norm(Tensor::zeros({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1,
                                           -1.0);
                        }),
                        {"batch_norm", "eps"});
}

}  // namespace
}  // namespace kiln
