// The losses of ops/losses.h: every case PyTorch 1.13 computed in
// tests/fixtures/losses-expected.json (tests/tools/make_loss_fixtures.py),
// f64 gradient checks over layouts and reductions, hand-computed values, and
// the errors. The references are f64; kiln's f64 results agree to rounding
// (measured ≤ 1.2e-15, relative above 1), so the f64 replay is held to 1e-12;
// the f32 replay carries f32 rounding (measured ≤ 7e-7) and is held to 1e-5.
#include "kiln/ops/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::error_of;
using test::expect_contains;
using test::gradcheck_error;
using test::kLayouts;
using test::Layout;
using test::make_input;

constexpr double kGradTol = 1e-6;
constexpr Reduction kReductions[] = {Reduction::none, Reduction::sum, Reduction::mean};

// ---- PyTorch reference cases -------------------------------------------------------------

const nlohmann::json& fixture_cases() {
  static const nlohmann::json cases = [] {
    std::ifstream in(std::string(KILN_FIXTURES_DIR) + "/losses-expected.json");
    if (!in) throw Error("cannot open tests/fixtures/losses-expected.json");
    return nlohmann::json::parse(in).at("cases");
  }();
  return cases;
}

Tensor decode(const nlohmann::json& t, DType float_dtype) {
  const Shape shape = t.at("shape").get<Shape>();
  const nlohmann::json& data = t.at("data");
  if (!data.empty() && data[0].is_number_integer()) {
    return Tensor::from_vector(data.get<std::vector<std::int64_t>>(), shape);
  }
  return Tensor::from_vector(data.get<std::vector<double>>(), shape).to(float_dtype);
}

Reduction reduction_named(const std::string& name) {
  if (name == "none") return Reduction::none;
  if (name == "sum") return Reduction::sum;
  if (name == "mean") return Reduction::mean;
  throw Error("unknown reduction '" + name + "' in losses-expected.json");
}

// Calls the kiln function the case names with the case's tensors and options.
Tensor apply_case(const nlohmann::json& c, const std::map<std::string, Tensor>& in) {
  const std::string fn = c.at("fn").get<std::string>();
  const nlohmann::json& opt = c.at("options");
  const Reduction r = reduction_named(opt.at("reduction").get<std::string>());
  auto get = [&](const char* key) { return in.contains(key) ? in.at(key) : Tensor(); };
  if (fn == "l1_loss") return l1_loss(in.at("input"), in.at("target"), r);
  if (fn == "smooth_l1_loss") return smooth_l1_loss(in.at("input"), in.at("target"), r, opt.at("beta").get<double>());
  if (fn == "huber_loss") return huber_loss(in.at("input"), in.at("target"), r, opt.at("delta").get<double>());
  if (fn == "binary_cross_entropy") {
    return binary_cross_entropy(in.at("input"), in.at("target"), {.weight = get("weight"), .reduction = r});
  }
  if (fn == "binary_cross_entropy_with_logits") {
    return binary_cross_entropy_with_logits(in.at("input"), in.at("target"),
                                            {.weight = get("weight"), .pos_weight = get("pos_weight"), .reduction = r});
  }
  if (fn == "cross_entropy") {
    return cross_entropy(in.at("input"), in.at("target"),
                         CrossEntropyOptions{.weight = get("weight"),
                                             .ignore_index = opt.value("ignore_index", std::int64_t{-100}),
                                             .label_smoothing = opt.at("label_smoothing").get<double>(),
                                             .reduction = r});
  }
  if (fn == "kl_normal_standard") return kl_normal_standard(in.at("mean"), in.at("log_var"), r);
  throw Error("losses-expected.json names an unknown function '" + fn + "'");
}

// Largest |got - want| / max(1, |want|).
double max_error(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return 1e9;
  const auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    worst = std::max(worst, std::fabs(g[i] - w[i]) / std::max(1.0, std::fabs(w[i])));
  }
  return worst;
}

void replay_fixture(DType dtype, double tol) {
  const nlohmann::json& cases = fixture_cases();
  ASSERT_FALSE(cases.empty());
  for (const nlohmann::json& c : cases) {
    const std::string name = c.at("name").get<std::string>();
    std::map<std::string, Tensor> in;
    for (const auto& [key, value] : c.at("inputs").items()) {
      Tensor t = decode(value, dtype);
      if (c.at("grads").contains(key)) t.set_requires_grad(true);
      in[key] = t;
    }
    const Tensor out = apply_case(c, in);
    EXPECT_EQ(out.dtype(), dtype) << name;
    EXPECT_LE(max_error(out, decode(c.at("output"), DType::f64)), tol) << name << " output";
    sum(mul(out, decode(c.at("upstream"), dtype))).backward();
    for (const auto& [key, value] : c.at("grads").items()) {
      const Tensor grad = in.at(key).grad();
      ASSERT_TRUE(grad.defined()) << name << " d" << key;
      EXPECT_LE(max_error(grad, decode(value, DType::f64)), tol) << name << " d" << key;
    }
  }
}

TEST(LossFixtures, EveryCaseMatchesPyTorchInF64) { replay_fixture(DType::f64, 1e-12); }
TEST(LossFixtures, EveryCaseMatchesPyTorchInF32) { replay_fixture(DType::f32, 1e-5); }

// ---- gradients ------------------------------------------------------------------------------

TEST(RegressionLosses, GradientsOverShapesLayoutsAndReductions) {
  Generator gen(81);
  int trial = 0;
  for (const Shape& shape : std::vector<Shape>{{5}, {3, 4}, {2, 3, 2}}) {
    for (const Reduction r : kReductions) {
      const Tensor a = make_input(shape, gen, kLayouts[trial % 3]);
      const Tensor b = make_input(shape, gen, kLayouts[(trial + 1) % 3]);
      ++trial;
      EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return l1_loss(v[0], v[1], r); }, {a, b}),
                kGradTol);
      for (const double beta : {1.0, 0.3, 0.0}) {
        EXPECT_LT(
            gradcheck_error([&](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], r, beta); }, {a, b}),
            kGradTol)
            << "beta " << beta;
      }
      for (const double delta : {1.0, 0.4}) {
        EXPECT_LT(
            gradcheck_error([&](const std::vector<Tensor>& v) { return huber_loss(v[0], v[1], r, delta); }, {a, b}),
            kGradTol)
            << "delta " << delta;
      }
    }
  }
}

TEST(BinaryCrossEntropy, GradientsWithWeightsOverLayoutsAndReductions) {
  Generator gen(82);
  int trial = 0;
  for (const Reduction r : kReductions) {
    const Shape shape{4, 3};
    const Layout la = kLayouts[trial % 3], lb = kLayouts[(trial + 1) % 3];
    ++trial;
    const Tensor p = make_input(shape, gen, la, 0.05, 0.95);
    const Tensor t = make_input(shape, gen, lb, 0.0, 1.0);
    const Tensor w = uniform({3}, 0.5, 2.0, gen, DType::f64);
    const Tensor pw = uniform({3}, 0.5, 3.0, gen, DType::f64);
    const Tensor x = make_input(shape, gen, lb, -4.0, 4.0);
    EXPECT_LT(
        gradcheck_error(
            [&](const std::vector<Tensor>& v) { return binary_cross_entropy(v[0], v[1], {.reduction = r}); }, {p, t}),
        kGradTol);
    EXPECT_LT(gradcheck_error(
                  [&](const std::vector<Tensor>& v) {
                    return binary_cross_entropy(v[0], v[1], {.weight = w, .reduction = r});
                  },
                  {p, t}),
              kGradTol);
    EXPECT_LT(gradcheck_error(
                  [&](const std::vector<Tensor>& v) {
                    return binary_cross_entropy_with_logits(v[0], v[1],
                                                            {.weight = w, .pos_weight = pw, .reduction = r});
                  },
                  {x, t}),
              kGradTol);
  }
}

TEST(CrossEntropyOptions, GradientsForWeightedIndicesAndProbabilities) {
  Generator gen(83);
  const Tensor weight = uniform({4}, 0.5, 2.0, gen, DType::f64);
  int trial = 0;
  for (const Shape& shape : std::vector<Shape>{{4}, {5, 4}, {2, 4, 3}}) {
    Shape row_shape = shape;
    row_shape.erase(row_shape.begin() + (shape.size() == 1 ? 0 : 1));
    std::vector<std::int64_t> labels(static_cast<std::size_t>(shape_numel(row_shape)));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>((i * 3 + 1) % 4);
    labels.back() = -1;  // one ignored row (a lone [C] row stays ignored: NaN mean, skipped below)
    const Tensor index = Tensor::from_vector(labels, row_shape);
    for (const Reduction r : kReductions) {
      for (const double eps : {0.0, 0.2}) {
        const Tensor x = make_input(shape, gen, kLayouts[trial % 3]);
        const Tensor q = make_input(shape, gen, kLayouts[(trial + 1) % 3], 0.0, 1.0);
        ++trial;
        if (shape.size() > 1 || r != Reduction::mean) {
          EXPECT_LT(gradcheck_error(
                        [&](const std::vector<Tensor>& v) {
                          return cross_entropy(
                              v[0], index,
                              {.weight = weight, .ignore_index = -1, .label_smoothing = eps, .reduction = r});
                        },
                        {x}),
                    kGradTol)
              << shape_str(shape) << " eps " << eps;
        }
        for (const Tensor& w : {Tensor(), weight}) {
          EXPECT_LT(gradcheck_error(
                        [&](const std::vector<Tensor>& v) {
                          return cross_entropy(v[0], v[1], {.weight = w, .label_smoothing = eps, .reduction = r});
                        },
                        {x, q}),
                    kGradTol)
              << shape_str(shape) << " eps " << eps << (w.defined() ? " weighted" : "");
        }
      }
    }
  }
}

TEST(KlNormalStandard, GradientsOverShapesLayoutsAndReductions) {
  Generator gen(84);
  int trial = 0;
  for (const Shape& shape : std::vector<Shape>{{3}, {4, 5}, {2, 3, 2}}) {
    for (const Reduction r : kReductions) {
      const Tensor m = make_input(shape, gen, kLayouts[trial % 3]);
      const Tensor lv = make_input(shape, gen, kLayouts[(trial + 1) % 3]);
      ++trial;
      EXPECT_LT(
          gradcheck_error([&](const std::vector<Tensor>& v) { return kl_normal_standard(v[0], v[1], r); }, {m, lv}),
          kGradTol)
          << shape_str(shape);
    }
  }
}

// ---- values computed by hand ----------------------------------------------------------------

TEST(RegressionLosses, HandComputedValues) {
  const Tensor x = Tensor::from_vector<double>({0.0, 0.5, -3.0, 2.0}, {4});
  const Tensor t = Tensor::from_vector<double>({0.0, 0.0, 0.0, 0.0}, {4});
  EXPECT_DOUBLE_EQ(l1_loss(x, t).item(), 5.5 / 4);
  EXPECT_DOUBLE_EQ(l1_loss(x, t, Reduction::sum).item(), 5.5);
  // smooth_l1, beta 1: 0, 0.5·0.25, 3 - 0.5, 2 - 0.5.
  EXPECT_EQ(smooth_l1_loss(x, t, Reduction::none).to_vector<double>(), (std::vector<double>{0, 0.125, 2.5, 1.5}));
  // huber, delta 2: 0, 0.125, 2·(3 - 1), 0.5·4 (|d| = delta is the quadratic side).
  EXPECT_EQ(huber_loss(x, t, Reduction::none, 2.0).to_vector<double>(), (std::vector<double>{0, 0.125, 4.0, 2.0}));
  // smooth_l1 with beta = 0 is l1, including its gradient 0 at d = 0.
  Tensor z = x.clone();
  z.set_requires_grad(true);
  smooth_l1_loss(z, t, Reduction::sum, 0.0).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 1, -1, 1}));
}

TEST(BinaryCrossEntropy, ClampsLogsLikePyTorch) {
  const Tensor p = Tensor::from_vector<double>({0.0, 1.0, 0.25}, {3});
  const Tensor t = Tensor::from_vector<double>({1.0, 0.0, 1.0}, {3});
  const auto loss = binary_cross_entropy(p, t, {.reduction = Reduction::none}).to_vector<double>();
  EXPECT_EQ(loss[0], 100.0);
  EXPECT_EQ(loss[1], 100.0);
  EXPECT_DOUBLE_EQ(loss[2], -std::log(0.25));
  // Weighted by a [3] weight, and a NaN probability propagates.
  const Tensor w = Tensor::from_vector<double>({2.0, 0.0, 4.0}, {3});
  EXPECT_DOUBLE_EQ(binary_cross_entropy(p, t, {.weight = w, .reduction = Reduction::sum}).item(),
                   200.0 - 4 * std::log(0.25));
  const Tensor nan = Tensor::full({1}, std::nan(""), DType::f64);
  EXPECT_TRUE(std::isnan(binary_cross_entropy(nan, Tensor::ones({1}, DType::f64)).item()));
}

TEST(BinaryCrossEntropy, PosWeightScalesThePositiveTerm) {
  // pos_weight 3 on target 1: 3·softplus(-x); on target 0 it changes nothing.
  const Tensor x = Tensor::from_vector<double>({0.7, 0.7}, {2, 1});
  const Tensor t = Tensor::from_vector<double>({1.0, 0.0}, {2, 1});
  const Tensor pw = Tensor::from_vector<double>({3.0}, {1});
  const auto loss =
      binary_cross_entropy_with_logits(x, t, {.pos_weight = pw, .reduction = Reduction::none}).to_vector<double>();
  EXPECT_NEAR(loss[0], 3 * std::log1p(std::exp(-0.7)), 1e-15);
  EXPECT_NEAR(loss[1], std::log1p(std::exp(0.7)), 1e-15);
  // Without weights the options form equals the core op.
  const Tensor z = Tensor::from_vector<double>({-80, -1, 0, 2, 90}, {5});
  const Tensor y = Tensor::from_vector<double>({1, 0, 0.5, 1, 0}, {5});
  EXPECT_NEAR(binary_cross_entropy_with_logits(z, y, {.reduction = Reduction::sum}).item(),
              binary_cross_entropy_with_logits(z, y, Reduction::sum).item(), 1e-12);
}

TEST(CrossEntropyOptions, HandComputedClassWeights) {
  // Two rows of equal logits over 2 classes: each row's -log p[target] = ln 2.
  // Weights [1, 3]: sum = 1·ln2 + 3·ln2; mean divides by Σ w[target] = 4, not by 2 rows.
  const Tensor logits = Tensor::zeros({2, 2}, DType::f64);
  const Tensor target = Tensor::from_vector<std::int64_t>({0, 1}, {2});
  const Tensor w = Tensor::from_vector<double>({1.0, 3.0}, {2});
  const double ln2 = std::log(2.0);
  EXPECT_NEAR(cross_entropy(logits, target, {.weight = w, .reduction = Reduction::sum}).item(), 4 * ln2, 1e-15);
  EXPECT_NEAR(cross_entropy(logits, target, {.weight = w}).item(), ln2, 1e-15);
  const auto none = cross_entropy(logits, target, {.weight = w, .reduction = Reduction::none}).to_vector<double>();
  EXPECT_NEAR(none[0], ln2, 1e-15);
  EXPECT_NEAR(none[1], 3 * ln2, 1e-15);
  // An ignored row adds nothing to the sum nor to the divisor; all ignored gives NaN, as torch.
  const Tensor partly = Tensor::from_vector<std::int64_t>({-100, 1}, {2});
  EXPECT_NEAR(cross_entropy(logits, partly, {.weight = w}).item(), ln2, 1e-15);
  const Tensor none_kept = Tensor::from_vector<std::int64_t>({-100, -100}, {2});
  EXPECT_TRUE(std::isnan(cross_entropy(logits, none_kept, {.weight = w}).item()));
}

TEST(CrossEntropyProbs, OneHotProbabilitiesEqualClassIndices) {
  Generator gen(85);
  const Tensor logits = randn({6, 5}, gen, DType::f64);
  const Tensor index = Tensor::from_vector<std::int64_t>({0, 4, 2, 2, 1, 3}, {6});
  std::vector<double> onehot(30, 0.0);
  for (std::size_t r = 0; r < 6; ++r) onehot[r * 5 + static_cast<std::size_t>(index.to_vector<std::int64_t>()[r])] = 1;
  const Tensor probs = Tensor::from_vector(onehot, {6, 5});
  const Tensor w = uniform({5}, 0.5, 2.0, gen, DType::f64);
  // The core op takes probability targets too (torch ≥ 1.10's cross_entropy(logits, probs)).
  EXPECT_NEAR(cross_entropy(logits, probs).item(), cross_entropy(logits, index).item(), 1e-14);
  EXPECT_NEAR(cross_entropy(logits, probs, -100, 0.3).item(), cross_entropy(logits, index, -100, 0.3).item(), 1e-14);
  // Weighted, the sums agree; the means differ by design (Σ w[t] against the row count, as torch).
  const CrossEntropyOptions sum_weighted{.weight = w, .reduction = Reduction::sum};
  EXPECT_NEAR(cross_entropy(logits, probs, sum_weighted).item(), cross_entropy(logits, index, sum_weighted).item(),
              1e-13);
}

TEST(CrossEntropyProbs, LowPrecisionMatchesF64) {
  Generator gen(86);
  const Tensor logits = randn({8, 50}, gen, DType::f64);
  const Tensor probs = softmax(randn({8, 50}, gen, DType::f64), 1);
  const Tensor w = uniform({50}, 0.5, 2.0, gen, DType::f64);
  const double ref = cross_entropy(logits, probs, {.weight = w, .label_smoothing = 0.1}).item();
  for (const DType dt : {DType::f32, DType::bf16}) {
    const double got = cross_entropy(logits.to(dt), probs.to(dt), {.weight = w.to(dt), .label_smoothing = 0.1}).item();
    EXPECT_NEAR(got, ref, (dt == DType::f32 ? 1e-5 : 2e-2) * std::fabs(ref)) << dtype_name(dt);
  }
}

TEST(KlNormalStandard, HandComputedAndReductions) {
  // Sample 0: mean 0, log_var 0 is N(0, 1) itself: KL 0.
  // Sample 1: mean [1, 2], log_var [0, ln 2]: ½·(1 + 4) + ½·(2 - 1 - ln 2) = 3 - ½·ln 2.
  const Tensor m = Tensor::from_vector<double>({0, 0, 1, 2}, {2, 2});
  const Tensor lv = Tensor::from_vector<double>({0, 0, 0, std::log(2.0)}, {2, 2});
  const double kl1 = 3.0 - 0.5 * std::log(2.0);
  const auto none = kl_normal_standard(m, lv, Reduction::none).to_vector<double>();
  ASSERT_EQ(none.size(), 2U);
  EXPECT_NEAR(none[0], 0.0, 1e-15);
  EXPECT_NEAR(none[1], kl1, 1e-15);
  EXPECT_NEAR(kl_normal_standard(m, lv, Reduction::sum).item(), kl1, 1e-15);
  EXPECT_NEAR(kl_normal_standard(m, lv).item(), kl1 / 2, 1e-15);  // mean over the batch of 2, not over 4 elements
  EXPECT_NEAR(kl_normal_standard(m.to(DType::f32), lv.to(DType::f32)).item(), kl1 / 2, 1e-6);
}

// ---- fusion: one node over the caller's tensors ---------------------------------------------

TEST(LossFusion, EachLossIsOneNodeOverItsInputs) {
  Generator gen(87);
  const Tensor x = make_input({4, 3}, gen), t = make_input({4, 3}, gen, Layout::contiguous, 0.0, 1.0);
  const Tensor w = Tensor::ones({3}, DType::f64);
  auto expect_one_node = [](const Tensor& loss, const char* name, const Tensor& input) {
    ASSERT_NE(loss.grad_fn(), nullptr) << name;
    EXPECT_STREQ(loss.grad_fn()->name, name);
    ASSERT_FALSE(loss.grad_fn()->inputs.empty()) << name;
    EXPECT_EQ(loss.grad_fn()->inputs[0].get(), input.id()) << name << " reads its input directly";
  };
  expect_one_node(cross_entropy(x, t, {.weight = w}), "cross_entropy", x);
  expect_one_node(kl_normal_standard(x, t), "kl_normal_standard", x);
  expect_one_node(l1_loss(x, t, Reduction::none), "l1_loss", x);
  expect_one_node(binary_cross_entropy(t, t, {.reduction = Reduction::none}), "binary_cross_entropy", t);
  expect_one_node(binary_cross_entropy_with_logits(x, t, {.pos_weight = w, .reduction = Reduction::none}),
                  "binary_cross_entropy_with_logits", x);
}

// ---- errors ----------------------------------------------------------------------------------

TEST(LossErrors, NameTheOpShapesAndValues) {
  const Tensor a = Tensor::zeros({4, 3});
  expect_contains(error_of([&] { (void)l1_loss(a, Tensor::zeros({4})); }), {"l1_loss", "[4, 3]", "[4]"});
  expect_contains(error_of([&] { (void)huber_loss(a, a, Reduction::mean, 0.0); }), {"huber_loss", "delta"});
  expect_contains(error_of([&] { (void)smooth_l1_loss(a, a, Reduction::mean, -1.0); }), {"smooth_l1_loss", "beta"});
  expect_contains(error_of([&] { (void)binary_cross_entropy(a, a, {.weight = Tensor::ones({2})}); }),
                  {"binary_cross_entropy", "weight", "f32[2]", "f32[4, 3]"});
  expect_contains(
      error_of([&] { (void)binary_cross_entropy_with_logits(a, a, {.pos_weight = Tensor::ones({3}, DType::f64)}); }),
      {"binary_cross_entropy_with_logits", "f64[3]"});
  const Tensor labels = Tensor::from_vector<std::int64_t>({0, 1, 2, 7}, {4});
  expect_contains(error_of([&] { (void)cross_entropy(a, labels, {.weight = Tensor::ones({3})}); }),
                  {"cross_entropy", "target 7", "3 classes"});
  const Tensor negative = Tensor::from_vector<std::int64_t>({0, -2, 1, 1}, {4});
  expect_contains(error_of([&] { (void)cross_entropy(a, negative, {.weight = Tensor::ones({3})}); }),
                  {"cross_entropy", "target -2", "out of range"});
  expect_contains(error_of([&] {
                    (void)cross_entropy(a, Tensor::zeros({4, 3}, DType::i64), {.weight = Tensor::ones({3})});
                  }),
                  {"cross_entropy", "i64[4, 3]", "[4]"});
  expect_contains(error_of([&] {
                    (void)cross_entropy(a, Tensor::zeros({4, 2}));
                  }),
                  {"cross_entropy", "f32[4, 2]", "probabilities", "[4, 3]"});
  expect_contains(error_of([&] { (void)cross_entropy(a, negative, {.weight = Tensor::ones({4})}); }),
                  {"cross_entropy", "weight", "f32[4]", "[3]"});
  Tensor learned = Tensor::ones({3});
  learned.set_requires_grad(true);
  expect_contains(error_of([&] { (void)cross_entropy(a, a, {.weight = learned}); }),
                  {"cross_entropy", "weight", "requires grad", "detach"});
  expect_contains(error_of([&] { (void)binary_cross_entropy_with_logits(a, a, {.pos_weight = learned}); }),
                  {"binary_cross_entropy_with_logits", "pos_weight", "requires grad"});
  expect_contains(error_of([&] {
                    (void)kl_normal_standard(a, Tensor::zeros({4, 2}));
                  }),
                  {"kl_normal_standard", "mean", "log_var", "[4, 2]"});
  expect_contains(error_of([&] { (void)kl_normal_standard(Tensor::zeros({}), Tensor::zeros({})); }),
                  {"kl_normal_standard", "batch"});
  expect_contains(error_of([&] {
                    (void)kl_normal_standard(Tensor::zeros({0, 2}), Tensor::zeros({0, 2}));
                  }),
                  {"kl_normal_standard", "empty batch"});
}

}  // namespace
}  // namespace kiln
