#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "gradcheck.h"
#include "kiln/core/parallel.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

constexpr double kTol = 1e-6;
using test::kLayouts;
using test::pick;
using test::random_shape;

using test::error_of;
using test::expect_contains;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  EXPECT_EQ(va.size(), vb.size());
  double m = 0;
  for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// ---- softmax / log_softmax ------------------------------------------------------------
TEST(Softmax, GradientsOverDimsShapesAndLayouts) {
  Generator gen(31);
  for (int trial = 0; trial < 10; ++trial) {
    const std::int64_t ndim = pick(gen, 1, 3);
    const Shape shape = random_shape(gen, ndim);
    const std::int64_t dim = pick(gen, -ndim, ndim - 1);
    const Tensor x = make_input(shape, gen, kLayouts[trial % 3], -3, 3);
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return softmax(v[0], dim); }, {x}), kTol)
        << shape_str(shape) << " dim " << dim;
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return log_softmax(v[0], dim); }, {x}), kTol)
        << shape_str(shape) << " dim " << dim;
  }
}

TEST(Softmax, ValuesAreStableAndNormalised) {
  // softmax([0, ln 3]) = [1/4, 3/4]; adding 1000 must not overflow.
  const Tensor x = Tensor::from_vector<float>({0.F, std::log(3.F), 1000.F, 1000.F + std::log(3.F)}, {2, 2});
  const auto y = softmax(x).to_vector<float>();
  EXPECT_NEAR(y[0], 0.25, 1e-6);
  EXPECT_NEAR(y[1], 0.75, 1e-6);
  EXPECT_NEAR(y[2], 0.25, 1e-4);  // ln 3 is rounded at magnitude 1000
  EXPECT_NEAR(y[3], 0.75, 1e-4);
  const auto ly = log_softmax(x).to_vector<float>();
  EXPECT_NEAR(ly[0], std::log(0.25), 1e-6);
  EXPECT_NEAR(ly[1], std::log(0.75), 1e-6);
  // Columns (dim 0) of [[0, 0], [ln 3, 0]].
  const Tensor c = Tensor::from_vector<double>({0, 0, std::log(3.0), 0}, {2, 2});
  EXPECT_EQ(softmax(c, 0).shape(), (Shape{2, 2}));
  const auto cy = softmax(c, 0).to_vector<double>();
  EXPECT_NEAR(cy[0], 0.25, 1e-12);
  EXPECT_NEAR(cy[1], 0.5, 1e-12);
  EXPECT_NEAR(cy[2], 0.75, 1e-12);
  // Masked (-inf) entries get probability 0.
  const float inf = std::numeric_limits<float>::infinity();
  const auto m = softmax(Tensor::from_vector<float>({1.F, -inf, 1.F}, {3})).to_vector<float>();
  EXPECT_EQ(m, (std::vector<float>{0.5F, 0.F, 0.5F}));
}

TEST(Softmax, F32AndBf16MatchF64) {
  Generator gen(32);
  for (const std::int64_t n : {1, 7, 50, 1000}) {
    const Tensor x = randn({9, n}, gen, DType::f64);
    for (const bool log_space : {false, true}) {
      auto f = [&](const Tensor& t) { return log_space ? log_softmax(t, -1) : softmax(t, -1); };
      const Tensor ref = f(x);
      EXPECT_LT(max_abs_diff(f(x.to(DType::f32)), ref), 2e-6) << n << " log " << log_space;
      EXPECT_LT(max_abs_diff(f(x.to(DType::bf16)), ref), 5e-2) << n << " log " << log_space;
    }
  }
}

TEST(Softmax, RejectsIntegerInput) {
  expect_contains(error_of([] { (void)softmax(Tensor::zeros({2}, DType::i64)); }), {"softmax", "i64[2]"});
  expect_contains(error_of([] { (void)log_softmax(Tensor::zeros({2, 2}), 2); }), {"log_softmax", "dimension 2"});
}

// ---- cross_entropy ---------------------------------------------------------------------
TEST(CrossEntropy, HandComputedWithIgnoreIndexAndLabelSmoothing) {
  // Three rows, two classes:
  //   row 0: logits [0, 0],     target 1    → p = [1/2, 1/2], nll = ln 2
  //   row 1: ignored (target -100)
  //   row 2: logits [0, ln 3],  target 0    → p = [1/4, 3/4], nll = ln 4
  // Without smoothing: mean = (ln 2 + ln 4) / 2 = 1.5 ln 2 (the ignored row is not counted).
  // With ε = 0.2 the per-row loss is 0.8·nll + 0.2·mean_c(-log p_c):
  //   row 0: 0.8 ln 2 + 0.2 ln 2 = ln 2
  //   row 2: 0.8 ln 4 + 0.2·(ln 4 + ln 4/3)/2 = ln 4 - 0.1 ln 3
  //   mean = (3 ln 2 - 0.1 ln 3) / 2, sum = 3 ln 2 - 0.1 ln 3.
  const double ln2 = std::log(2.0), ln3 = std::log(3.0);
  const Tensor logits = Tensor::from_vector<double>({0, 0, 5, -7, 0, ln3}, {3, 2});
  const Tensor target = Tensor::from_vector<std::int64_t>({1, -100, 0}, {3});
  EXPECT_NEAR(cross_entropy(logits, target).item(), 1.5 * ln2, 1e-12);
  EXPECT_NEAR(cross_entropy(logits, target, -100, 0.2).item(), (3 * ln2 - 0.1 * ln3) / 2, 1e-12);
  EXPECT_NEAR(cross_entropy(logits, target, -100, 0.2, Reduction::sum).item(), 3 * ln2 - 0.1 * ln3, 1e-12);
  const auto none = cross_entropy(logits, target, -100, 0.2, Reduction::none).to_vector<double>();
  ASSERT_EQ(none.size(), 3U);
  EXPECT_NEAR(none[0], ln2, 1e-12);
  EXPECT_EQ(none[1], 0.0);
  EXPECT_NEAR(none[2], 2 * ln2 - 0.1 * ln3, 1e-12);
  // A custom ignore_index and i32 targets; f32 logits give the same numbers.
  const Tensor t32 = Tensor::from_vector<std::int32_t>({1, 3, 0}, {3});
  EXPECT_NEAR(cross_entropy(logits.to(DType::f32), t32, 3).item(), 1.5 * ln2, 1e-6);
  // Gradient of the mean: (softmax - onehot) / 2 on counted rows, 0 on the ignored row.
  Tensor l = logits.detach();
  l.set_requires_grad(true);
  cross_entropy(l, target).backward();
  const auto g = l.grad().to_vector<double>();
  const std::vector<double> expect{0.25, -0.25, 0, 0, (0.25 - 1) / 2, 0.75 / 2};
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], expect[i], 1e-12) << i;
}

TEST(CrossEntropy, GradientsForAllReductionsShapesAndLayouts) {
  Generator gen(33);
  const std::vector<Shape> shapes = {{5}, {4, 5}, {3, 4, 2}, {2, 3, 2, 3}};
  int trial = 0;
  for (const Shape& shape : shapes) {
    Shape tshape = shape.size() == 1 ? Shape{} : shape;
    if (shape.size() > 1) tshape.erase(tshape.begin() + 1);
    const std::int64_t classes = shape.size() == 1 ? shape[0] : shape[1];
    std::vector<std::int64_t> tv(static_cast<std::size_t>(shape_numel(tshape)));
    for (std::size_t i = 0; i < tv.size(); ++i) tv[i] = i % 3 == 1 ? -1 : pick(gen, 0, classes - 1);
    if (tv.size() == 1) tv[0] = 2;
    const Tensor target = Tensor::from_vector(tv, tshape);
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      for (const double smoothing : {0.0, 0.3}) {
        const Tensor x = make_input(shape, gen, kLayouts[trial++ % 3], -3, 3);
        EXPECT_LT(gradcheck_error(
                      [&](const std::vector<Tensor>& v) { return cross_entropy(v[0], target, -1, smoothing, r); }, {x}),
                  kTol)
            << shape_str(shape) << " reduction " << static_cast<int>(r) << " smoothing " << smoothing;
      }
    }
  }
}

TEST(CrossEntropy, SpatialMatchesFlattenedRows) {
  // [N, C, d] must equal the same rows laid out as [N·d, C].
  Generator gen(34);
  const Tensor x = randn({2, 5, 3}, gen, DType::f64);
  const Tensor t = Tensor::from_vector<std::int64_t>({0, 4, 2, 1, 1, 3}, {2, 3});
  const Tensor flat = x.permute({0, 2, 1}).reshape({6, 5});
  EXPECT_NEAR(cross_entropy(x, t, -100, 0.1).item(), cross_entropy(flat, t.reshape({6}), -100, 0.1).item(), 1e-12);
}

TEST(CrossEntropy, LargeVocabF32MatchesF64) {
  Generator gen(35);
  const Tensor x = mul(randn({64, 3000}, gen, DType::f64), 4.0);
  std::vector<std::int64_t> tv(64);
  for (auto& v : tv) v = pick(gen, 0, 2999);
  tv[5] = -100;
  const Tensor t = Tensor::from_vector(tv, {64});
  const double ref = cross_entropy(x, t, -100, 0.1).item();
  EXPECT_NEAR(cross_entropy(x.to(DType::f32), t, -100, 0.1).item(), ref, 1e-5 * std::fabs(ref));
  Tensor a = x.detach(), b = x.to(DType::f32).detach();
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  cross_entropy(a, t).backward();
  cross_entropy(b, t).backward();
  EXPECT_LT(max_abs_diff(a.grad(), b.grad()), 1e-7);
}

TEST(CrossEntropy, AllIgnoredMeanIsNaNLikePyTorch) {
  const Tensor t = Tensor::from_vector<std::int64_t>({-100, -100}, {2});
  EXPECT_TRUE(std::isnan(cross_entropy(Tensor::zeros({2, 3}), t).item()));
  EXPECT_EQ(cross_entropy(Tensor::zeros({2, 3}), t, -100, 0.0, Reduction::sum).item(), 0.0);
}

TEST(CrossEntropy, Errors) {
  const Tensor logits = Tensor::zeros({2, 5});
  expect_contains(error_of([&] { (void)cross_entropy(logits, Tensor::from_vector<std::int64_t>({1, 5}, {2})); }),
                  {"cross_entropy", "target 5", "5 classes", "f32[2, 5]"});
  expect_contains(error_of([&] { (void)cross_entropy(logits, Tensor::from_vector<std::int64_t>({-3, 0}, {2})); }),
                  {"cross_entropy", "target -3"});
  expect_contains(error_of([&] { (void)cross_entropy(logits, Tensor::zeros({3}, DType::i64)); }),
                  {"cross_entropy", "i64[3]", "f32[2, 5]", "[2]"});
  expect_contains(error_of([&] { (void)cross_entropy(logits, Tensor::zeros({2})); }),
                  {"cross_entropy", "i64", "f32[2]"});
  expect_contains(error_of([&] { (void)cross_entropy(logits, Tensor::zeros({2}, DType::i64), -100, 1.5); }),
                  {"cross_entropy", "label_smoothing"});
  expect_contains(error_of([&] { (void)cross_entropy(Tensor::zeros({2, 5}, DType::i64), Tensor::zeros({2}, DType::i64)); }),
                  {"cross_entropy", "logits", "i64[2, 5]"});
}

// ---- mse / bce / kl_div ---------------------------------------------------------------------
TEST(Losses, GradientsOverShapesLayoutsAndReductions) {
  Generator gen(36);
  int trial = 0;
  for (const Shape& shape : std::vector<Shape>{{4}, {3, 4}, {2, 3, 2}}) {
    for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      const Layout la = kLayouts[trial % 3], lb = kLayouts[(trial + 1) % 3];
      ++trial;
      const Tensor a = make_input(shape, gen, la);
      const Tensor b = make_input(shape, gen, lb);
      EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1], r); }, {a, b}), kTol);
      const Tensor t = make_input(shape, gen, lb, 0.0, 1.0);
      EXPECT_LT(gradcheck_error(
                    [&](const std::vector<Tensor>& v) { return binary_cross_entropy_with_logits(v[0], v[1], r); },
                    {a, t}),
                kTol);
      const Tensor logp = make_input(shape, gen, la, -3.0, -0.1);
      const Tensor p = make_input(shape, gen, lb, 0.1, 1.0);
      EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return kl_div(v[0], v[1], r); }, {logp, p}), kTol);
    }
  }
}

TEST(Losses, ForwardValues) {
  const Tensor a = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector<double>({0, 2, 5, 4}, {2, 2});
  EXPECT_DOUBLE_EQ(mse_loss(a, b).item(), (1 + 0 + 4 + 0) / 4.0);
  EXPECT_DOUBLE_EQ(mse_loss(a, b, Reduction::sum).item(), 5.0);

  // BCE: x = 0 gives ln 2 for any target; large |x| stays finite and exact.
  const Tensor x = Tensor::from_vector<double>({0, 0, 100, -100, 2}, {5});
  const Tensor t = Tensor::from_vector<double>({0, 1, 0, 0, 0.25}, {5});
  const auto bce = binary_cross_entropy_with_logits(x, t, Reduction::none).to_vector<double>();
  EXPECT_NEAR(bce[0], std::log(2.0), 1e-15);
  EXPECT_NEAR(bce[1], std::log(2.0), 1e-15);
  EXPECT_NEAR(bce[2], 100.0, 1e-12);
  EXPECT_NEAR(bce[3], 0.0, 1e-40);
  const double s2 = 1 / (1 + std::exp(-2.0));
  EXPECT_NEAR(bce[4], -(0.25 * std::log(s2) + 0.75 * std::log(1 - s2)), 1e-14);
  EXPECT_FALSE(std::isinf(binary_cross_entropy_with_logits(Tensor::full({1}, -200.0), Tensor::ones({1})).item()));
  // The gradient at exactly x = 0 is σ(0) - t, not a one-sided derivative.
  Tensor z = Tensor::zeros({2}, DType::f64);
  z.set_requires_grad(true);
  binary_cross_entropy_with_logits(z, Tensor::from_vector<double>({0, 1}, {2}), Reduction::sum).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0.5, -0.5}));

  // KL: target [0.5, 0.5, 0] against log [0.25, 0.75, ...]: 0·log 0 counts as 0.
  //   0.5·(ln 0.5 - ln 0.25) + 0.5·(ln 0.5 - ln 0.75) = 0.5·ln 2 + 0.5·ln(2/3)
  const Tensor logq = Tensor::from_vector<double>({std::log(0.25), std::log(0.75), -5.0}, {1, 3}).expand({2, 3});
  const Tensor p = Tensor::from_vector<double>({0.5, 0.5, 0.0}, {1, 3}).expand({2, 3});
  const double row = 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0);
  EXPECT_NEAR(kl_div(logq, p, Reduction::sum).item(), 2 * row, 1e-14);
  EXPECT_NEAR(kl_div(logq, p).item(), row, 1e-14);  // batchmean: divided by the batch size 2, not by 6
  EXPECT_EQ(kl_div(logq, p, Reduction::none).to_vector<double>()[2], 0.0);
}

TEST(Losses, ErrorsNameOpShapesAndDtypes) {
  const Tensor a = Tensor::zeros({4, 1});
  expect_contains(error_of([&] { (void)mse_loss(a, Tensor::zeros({4})); }), {"mse_loss", "[4, 1]", "[4]"});
  expect_contains(error_of([&] { (void)mse_loss(a, Tensor::zeros({4, 1}, DType::f64)); }), {"mse_loss", "f64"});
  expect_contains(error_of([&] { (void)binary_cross_entropy_with_logits(a, Tensor::zeros({1, 4})); }),
                  {"binary_cross_entropy_with_logits", "[4, 1]", "[1, 4]"});
  expect_contains(error_of([&] { (void)kl_div(a, Tensor::zeros({4, 2})); }), {"kl_div", "[4, 2]"});
  expect_contains(error_of([&] { (void)kl_div(a, Tensor::zeros({4, 1}, DType::i64)); }), {"kl_div", "i64"});
}

// ---- layer_norm ---------------------------------------------------------------------------
TEST(LayerNorm, GradientsWithAndWithoutAffine) {
  Generator gen(37);
  for (int trial = 0; trial < 9; ++trial) {
    const std::int64_t ndim = pick(gen, 1, 3);
    Shape shape = random_shape(gen, ndim);
    shape.back() = pick(gen, 2, 6);
    const std::int64_t n = shape.back();
    const Tensor x = make_input(shape, gen, kLayouts[trial % 3]);
    const Tensor w = make_input({n}, gen, Layout::contiguous, 0.5, 1.5);
    const Tensor b = make_input({n}, gen);
    EXPECT_LT(gradcheck_error([](const auto& v) { return layer_norm(v[0], v[1], v[2]); }, {x, w, b}), kTol)
        << shape_str(shape);
    EXPECT_LT(gradcheck_error([](const auto& v) { return layer_norm(v[0], Tensor(), Tensor(), 1e-3); }, {x}), kTol);
    EXPECT_LT(gradcheck_error([&](const auto& v) { return layer_norm(v[0], w.detach(), v[1]); }, {x, b}), kTol);
    EXPECT_LT(gradcheck_error([&](const auto& v) { return layer_norm(v[0], v[1], Tensor()); }, {x, w}), kTol);
  }
}

TEST(LayerNorm, Values) {
  // Row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
  const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {1, 4});
  const Tensor w = Tensor::from_vector<double>({1, 2, 1, 1}, {4});
  const Tensor b = Tensor::from_vector<double>({0, 0, 0, 10}, {4});
  const auto y = layer_norm(x, w, b, 0.0).to_vector<double>();
  const double s = 1 / std::sqrt(1.25);
  EXPECT_NEAR(y[0], -1.5 * s, 1e-12);
  EXPECT_NEAR(y[1], -1.0 * s, 1e-12);
  EXPECT_NEAR(y[2], 0.5 * s, 1e-12);
  EXPECT_NEAR(y[3], 1.5 * s + 10, 1e-12);
  // f32 against f64 on wider rows, with a large offset that naive E[x²]-E[x]² would ruin.
  Generator gen(38);
  const Tensor big = add(randn({33, 768}, gen, DType::f64), 1000.0);
  const Tensor ref = layer_norm(big, Tensor(), Tensor());
  EXPECT_LT(max_abs_diff(layer_norm(big.to(DType::f32), Tensor(), Tensor()), ref), 2e-3);
  // bf16 computes in f32 and rounds only the output (relative 2^-8).
  const Tensor small = randn({5, 300}, gen, DType::bf16);
  EXPECT_LT(max_abs_diff(layer_norm(small, Tensor(), Tensor()), layer_norm(small.to(DType::f64), Tensor(), Tensor())),
            0.05);
}

TEST(LayerNorm, WeightGradientIsIndependentOfThreadCount) {
  Generator gen(39);
  const Tensor x = randn({1000, 64}, gen);
  const Tensor gy = randn({1000, 64}, gen);
  auto run = [&] {
    Tensor w = Tensor::ones({64}), b = Tensor::zeros({64});
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor xi = x.detach();
    xi.set_requires_grad(true);
    layer_norm(xi, w, b).backward(gy);
    return std::vector<std::vector<float>>{w.grad().to_vector<float>(), b.grad().to_vector<float>(),
                                           xi.grad().to_vector<float>()};
  };
  const int saved = num_threads();
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

TEST(LayerNorm, Errors) {
  const Tensor x = Tensor::zeros({2, 3});
  expect_contains(error_of([&] { (void)layer_norm(x, Tensor::ones({4}), Tensor()); }),
                  {"layer_norm", "weight", "f32[4]", "[3]", "f32[2, 3]"});
  expect_contains(error_of([&] { (void)layer_norm(x, Tensor(), Tensor::zeros({3}, DType::f64)); }),
                  {"layer_norm", "f64[3]"});
  expect_contains(error_of([&] { (void)layer_norm(Tensor::zeros({2}, DType::i32), Tensor(), Tensor()); }),
                  {"layer_norm", "i32[2]"});
}

// ---- broadcast (stride-0) inputs ------------------------------------------------------------
TEST(NnOps, GradientsThroughBroadcastViews) {
  Generator gen(43);
  const Tensor row = make_input({1, 5}, gen);
  const Tensor col = make_input({3, 1}, gen);
  const Tensor t = Tensor::from_vector<std::int64_t>({4, 0, 2}, {3});
  const std::vector<std::function<Tensor(const std::vector<Tensor>&)>> fs = {
      [](const auto& v) { return softmax(mul(expand(v[0], {3, 5}), v[1]), 0); },
      [](const auto& v) { return log_softmax(add(v[0], v[1]), -1); },
      [&](const auto& v) { return cross_entropy(add(v[0], v[1]), t, -100, 0.1); },
      [](const auto& v) { return layer_norm(add(v[0], v[1]), Tensor(), Tensor()); },
      [](const auto& v) { return mse_loss(expand(v[0], {3, 5}), expand(v[1], {3, 5})); },
      [](const auto& v) { return binary_cross_entropy_with_logits(expand(v[0], {3, 5}), sigmoid(expand(v[1], {3, 5}))); },
  };
  for (std::size_t i = 0; i < fs.size(); ++i) EXPECT_LT(gradcheck_error(fs[i], {row, col}), kTol) << i;
}

// ---- embedding ------------------------------------------------------------------------------
TEST(Embedding, ValuesShapesAndSparseGradient) {
  const Tensor w0 = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  const Tensor ids = Tensor::from_vector<std::int64_t>({3, 0, 3, 2, 0, 0}, {2, 3});
  const Tensor out = embedding(w0, ids);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{30, 31, 0, 1, 30, 31, 20, 21, 0, 1, 0, 1}));
  EXPECT_EQ(embedding(w0, Tensor::from_vector<std::int32_t>({1}, {1})).to_vector<float>(), (std::vector<float>{10, 11}));
  EXPECT_EQ(embedding(w0, Tensor::scalar(2, DType::i64)).shape(), (Shape{2}));

  Tensor w = w0.detach();
  w.set_requires_grad(true);
  sum(embedding(w, ids)).backward();
  // Row 1 is never used: its gradient stays exactly zero; repeats accumulate.
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{3, 3, 0, 0, 1, 1, 2, 2}));

  Generator gen(40);
  const Tensor wt = make_input({5, 3}, gen, Layout::transposed);
  EXPECT_LT(gradcheck_error([&](const auto& v) { return embedding(v[0], ids); }, {wt}), kTol);
}

TEST(Embedding, Errors) {
  const Tensor w = Tensor::zeros({10, 4});
  expect_contains(error_of([&] { (void)embedding(w, Tensor::from_vector<std::int64_t>({3, 12, 1}, {3})); }),
                  {"embedding", "id 12", "vocabulary size 10"});
  expect_contains(error_of([&] { (void)embedding(w, Tensor::from_vector<std::int32_t>({-2}, {1})); }),
                  {"embedding", "id -2", "10"});
  expect_contains(error_of([&] { (void)embedding(w, Tensor::zeros({3})); }), {"embedding", "i64", "f32[3]"});
  expect_contains(error_of([&] { (void)embedding(Tensor::zeros({10}), Tensor::zeros({1}, DType::i64)); }),
                  {"embedding", "f32[10]"});
}

// ---- dropout ----------------------------------------------------------------------------------
TEST(Dropout, StatisticsAndScaling) {
  const Tensor x = Tensor::full({200000}, 2.0);
  for (const double p : {0.1, 0.5, 0.8}) {
    Generator gen(41);
    const Tensor y = dropout(x, p, true, gen);
    const auto v = y.to_vector<float>();
    std::int64_t zeros = 0;
    for (const float e : v) {
      if (e == 0.F) {
        ++zeros;
      } else {
        EXPECT_FLOAT_EQ(e, static_cast<float>(2.0 / (1.0 - p)));
      }
    }
    EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(v.size()), p, 0.01) << p;
    EXPECT_NEAR(mean(y).item(), 2.0, 0.03) << p;
  }
}

TEST(Dropout, SameSeedSameMaskForAnyThreadCount) {
  const Tensor x = Tensor::ones({300000});
  const int saved = num_threads();
  set_num_threads(1);
  Generator g1(7);
  const auto one = dropout(x, 0.3, true, g1).to_vector<float>();
  set_num_threads(2);
  Generator g2(7);
  const auto two = dropout(x, 0.3, true, g2).to_vector<float>();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
  // The generator advances, so the next call draws a different mask.
  EXPECT_NE(dropout(x, 0.3, true, g2).to_vector<float>(), two);
}

TEST(Dropout, EdgeCasesAndGradient) {
  Generator gen(42);
  const Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {4});
  EXPECT_EQ(dropout(x, 0.0, true, gen).id(), x.id());
  EXPECT_EQ(dropout(x, 0.7, false, gen).id(), x.id());
  EXPECT_EQ(dropout(x, 1.0, true, gen).to_vector<double>(), (std::vector<double>{0, 0, 0, 0}));
  expect_contains(error_of([&] { (void)dropout(x, 1.5, true, gen); }), {"dropout", "1.5"});
  expect_contains(error_of([&] { (void)dropout(x, -0.1, false, gen); }), {"dropout"});
  // The gradient is the mask scaled by 1/(1-p): equal to y / x elementwise.
  Tensor xi = Tensor::from_vector<double>(std::vector<double>(1000, 3.0), {1000});
  xi.set_requires_grad(true);
  const Tensor y = dropout(xi, 0.4, true, gen);
  sum(y).backward();
  const auto yv = y.to_vector<double>(), gv = xi.grad().to_vector<double>();
  for (std::size_t i = 0; i < yv.size(); ++i) EXPECT_DOUBLE_EQ(gv[i], yv[i] / 3.0);
}

}  // namespace
}  // namespace kiln
