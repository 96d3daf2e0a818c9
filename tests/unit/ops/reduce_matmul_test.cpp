#include <gtest/gtest.h>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

TEST(Reduce, GradientsOverAxes) {
  Generator gen(3);
  for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
    const Tensor x = make_input({2, 3, 4}, gen, layout);
    for (const std::vector<std::int64_t>& dims : std::vector<std::vector<std::int64_t>>{{}, {0}, {1}, {2}, {0, 2}, {-1, 0}}) {
      for (const bool keep : {false, true}) {
        EXPECT_LT(gradcheck_error([&](const auto& v) { return sum(v[0], dims, keep); }, {x}), 1e-6);
        EXPECT_LT(gradcheck_error([&](const auto& v) { return mean(v[0], dims, keep); }, {x}), 1e-6);
        EXPECT_LT(gradcheck_error([&](const auto& v) { return max(v[0], dims, keep); }, {x}), 1e-6);
        EXPECT_LT(gradcheck_error([&](const auto& v) { return min(v[0], dims, keep); }, {x}), 1e-6);
        EXPECT_LT(gradcheck_error([&](const auto& v) { return var(v[0], dims, true, keep); }, {x}), 1e-6);
      }
    }
  }
}

TEST(Reduce, Values) {
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(x, {0}).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sum(x, {1}).to_vector<float>(), (std::vector<float>{6, 15}));
  EXPECT_EQ(max(x, {1}).to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_FLOAT_EQ(static_cast<float>(var(x).item()), 3.5F);
  EXPECT_EQ(argmax(x, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 2}));
  Generator gen(1);
  const Tensor big = rand({1 << 20}, gen);
  double expect = 0;
  for (const float v : big.to_vector<float>()) expect += v;
  EXPECT_NEAR(sum(big).item(), expect, 1e-6 * expect);
}

TEST(Matmul, GradientsWithTransposesAndBatches) {
  Generator gen(5);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{2, 3, 4}, {4, 5}}, {{3, 4}, {2, 4, 5}},
      {{2, 1, 3, 4}, {3, 4, 2}}, {{4}, {4, 5}}, {{3, 4}, {4}}, {{4}, {4}}};
  for (const auto& [sa, sb] : shapes) {
    for (const Layout la : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
      for (const Layout lb : {Layout::contiguous, Layout::transposed}) {
        const Tensor a = make_input(sa, gen, la);
        const Tensor b = make_input(sb, gen, lb);
        EXPECT_LT(gradcheck_error([](const auto& v) { return matmul(v[0], v[1]); }, {a, b}), 1e-6)
            << shape_str(sa) << " " << shape_str(sb);
      }
    }
  }
}

TEST(Matmul, F32MatchesF64) {
  Generator gen(9);
  const Tensor a = randn({2, 37, 53}, gen, DType::f64);
  const Tensor b = randn({53, 29}, gen, DType::f64);
  const Tensor ref = matmul(a, b);
  const Tensor got = matmul(a.to(DType::f32), b.to(DType::f32).t().contiguous().t());
  const auto r = ref.to_vector<double>();
  const auto g = got.to_vector<double>();
  for (std::size_t i = 0; i < r.size(); ++i) EXPECT_NEAR(g[i], r[i], 1e-4);
  const Tensor bf = matmul(a.to(DType::bf16), b.to(DType::bf16));
  const auto gb = bf.to_vector<double>();
  for (std::size_t i = 0; i < r.size(); ++i) EXPECT_NEAR(gb[i], r[i], 0.1 + 0.02 * std::fabs(r[i]));
}

TEST(Matmul, ShapeErrorNamesShapes) {
  try {
    (void)matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f32[2, 3]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("f32[4, 5]"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln
