// scaled_dot_product_attention: values against direct loops, masks, fully
// masked rows, gradients and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

// Direct attention over q [G, Tq, d], k [G, Tk, d], v [G, Tk, dv] with G = B*heads
// groups; pad[b][j] true hides key j of batch b. A row with no visible key is 0.
std::vector<double> direct_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t heads,
                                     bool causal, const std::vector<std::vector<bool>>& pad, double scale) {
  const auto qv = q.to_vector<double>(), kv = k.to_vector<double>(), vv = v.to_vector<double>();
  const std::int64_t Tq = q.size(-2), Tk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const std::int64_t G = q.numel() / (Tq * d);
  std::vector<double> out(static_cast<std::size_t>(G * Tq * dv), 0.0);
  for (std::int64_t gi = 0; gi < G; ++gi) {
    for (std::int64_t i = 0; i < Tq; ++i) {
      std::vector<double> s(static_cast<std::size_t>(Tk));
      std::vector<bool> visible(static_cast<std::size_t>(Tk), true);
      double m = -std::numeric_limits<double>::infinity();
      for (std::int64_t j = 0; j < Tk; ++j) {
        if (causal && j > i + (Tk - Tq)) visible[j] = false;
        if (!pad.empty() && pad[gi / heads][j]) visible[j] = false;
        double dot = 0;
        for (std::int64_t e = 0; e < d; ++e) dot += qv[(gi * Tq + i) * d + e] * kv[(gi * Tk + j) * d + e];
        s[j] = dot * scale;
        if (visible[j]) m = std::max(m, s[j]);
      }
      double z = 0;
      for (std::int64_t j = 0; j < Tk; ++j) z += visible[j] ? std::exp(s[j] - m) : 0.0;
      if (z == 0) continue;  // every key hidden: zeros
      for (std::int64_t j = 0; j < Tk; ++j) {
        if (!visible[j]) continue;
        const double p = std::exp(s[j] - m) / z;
        for (std::int64_t e = 0; e < dv; ++e) out[(gi * Tq + i) * dv + e] += p * vv[(gi * Tk + j) * dv + e];
      }
    }
  }
  return out;
}

Tensor bool_mask(const std::vector<std::vector<bool>>& pad) {
  std::vector<std::uint8_t> flat;
  for (const auto& row : pad) flat.insert(flat.end(), row.begin(), row.end());
  return cast(Tensor::from_vector(flat, {static_cast<std::int64_t>(pad.size()), static_cast<std::int64_t>(pad[0].size())}),
              DType::boolean);
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "index " << i;
    EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
  }
}

TEST(Attention, MatchesDirectLoopsWithMasks) {
  Generator gen(41);
  const std::vector<std::vector<bool>> pad = {{false, false, false, false, true, true},
                                              {false, false, false, false, false, false}};
  for (const std::int64_t Tq : {6, 4}) {  // Tq == Tk, and Tq < Tk (bottom-right causal alignment)
    const Tensor q = randn({2, 3, Tq, 5}, gen, DType::f64);
    const Tensor k = randn({2, 3, 6, 5}, gen, DType::f64);
    const Tensor v = randn({2, 3, 6, 7}, gen, DType::f64);
    const double s = 1.0 / std::sqrt(5.0);
    for (const bool causal : {false, true}) {
      for (const bool padded : {false, true}) {
        const Tensor y = scaled_dot_product_attention(q, k, v, causal, padded ? bool_mask(pad) : Tensor());
        ASSERT_EQ(y.shape(), (Shape{2, 3, Tq, 7}));
        const auto want = direct_attention(q, k, v, 3, causal, padded ? pad : std::vector<std::vector<bool>>{}, s);
        expect_close(y.to_vector<double>(), want, 1e-12);
        const Tensor y32 = scaled_dot_product_attention(q.to(DType::f32), k.to(DType::f32), v.to(DType::f32), causal,
                                                        padded ? bool_mask(pad) : Tensor());
        expect_close(y32.to_vector<double>(), want, 1e-5);
      }
    }
    // 3-d q [B, T, d] with a mask broadcast as [B, 1, Tk], and an explicit scale.
    const Tensor q3 = q.slice(1, 0, 1).squeeze(1), k3 = k.slice(1, 0, 1).squeeze(1), v3 = v.slice(1, 0, 1).squeeze(1);
    const Tensor y3 = scaled_dot_product_attention(q3, k3, v3, true, bool_mask(pad), 0.3);
    expect_close(y3.to_vector<double>(), direct_attention(q3, k3, v3, 1, true, pad, 0.3), 1e-12);
  }
}

TEST(Attention, CausalWithEqualLengthsIsLowerTriangular) {
  // Query 0 sees only key 0, so its output is v[0] whatever the scores.
  Generator gen(42);
  const Tensor q = randn({1, 4, 3}, gen, DType::f64), k = randn({1, 4, 3}, gen, DType::f64);
  const Tensor v = randn({1, 4, 2}, gen, DType::f64);
  const Tensor y = scaled_dot_product_attention(q, k, v, true);
  EXPECT_EQ(y.slice(1, 0, 1).to_vector<double>(), v.slice(1, 0, 1).to_vector<double>());
}

TEST(Attention, FullyMaskedRowsGiveZerosNotNaN) {
  Generator gen(43);
  // Batch 1 is all padding; with causal and Tq > Tk the first query of batch 0 sees no key either.
  const std::vector<std::vector<bool>> pad = {{false, false, true}, {true, true, true}};
  const Tensor q = make_input({2, 2, 4, 3}, gen), k = make_input({2, 2, 3, 3}, gen), v = make_input({2, 2, 3, 2}, gen);
  const Tensor mask = bool_mask(pad);
  const Tensor y = scaled_dot_product_attention(q, k, v, true, mask);
  const auto got = y.to_vector<double>();
  expect_close(got, direct_attention(q, k, v, 2, true, pad, 1.0 / std::sqrt(3.0)), 1e-12);
  // Batch 1: every row zero. Batch 0: query 0 (sees key j ≤ 0 - 1) zero.
  for (std::size_t i = got.size() / 2; i < got.size(); ++i) EXPECT_EQ(got[i], 0.0);
  EXPECT_EQ(y.slice(0, 0, 1).slice(2, 0, 1).to_vector<double>(), std::vector<double>(4, 0.0));
  sum(y).backward();
  for (const Tensor* t : {&q, &k, &v}) {
    for (const double g : t->grad().to_vector<double>()) ASSERT_FALSE(std::isnan(g));
  }
  // No gradient reaches the fully masked batch.
  for (const double g : q.grad().slice(0, 1, 2).to_vector<double>()) EXPECT_EQ(g, 0.0);
  EXPECT_LT(gradcheck_error([&](const auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], true, mask); },
                            {q, k, v}),
            1e-6);
}

TEST(Attention, Gradients) {
  Generator gen(44);
  const Tensor mask = bool_mask({{false, false, false, true, true}, {false, false, false, false, false}});
  for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
    for (const bool causal : {false, true}) {
      for (const bool padded : {false, true}) {
        const Tensor q = make_input({2, 2, 3, 4}, gen, layout), k = make_input({2, 2, 5, 4}, gen, layout);
        const Tensor v = make_input({2, 2, 5, 3}, gen, layout);
        const Tensor m = padded ? mask : Tensor();
        EXPECT_LT(gradcheck_error([&](const auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], causal, m); },
                                  {q, k, v}),
                  1e-6)
            << "causal " << causal << " padded " << padded;
      }
    }
  }
  // 3-d inputs with an explicit scale.
  const Tensor q = make_input({2, 5, 4}, gen), k = make_input({2, 5, 4}, gen), v = make_input({2, 5, 3}, gen);
  EXPECT_LT(gradcheck_error([&](const auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], true, mask, 0.7); },
                            {q, k, v}),
            1e-6);
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

TEST(Attention, ErrorsNameShapes) {
  const Tensor q = Tensor::zeros({2, 4, 3, 8}), k = Tensor::zeros({2, 4, 5, 8}), v = Tensor::zeros({2, 4, 5, 6});
  std::string msg = error_of([&] { (void)scaled_dot_product_attention(q, Tensor::zeros({2, 4, 5, 7}), v); });
  EXPECT_NE(msg.find("head sizes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[2, 4, 5, 7]"), std::string::npos) << msg;
  msg = error_of([&] { (void)scaled_dot_product_attention(q, k, Tensor::zeros({2, 4, 4, 6})); });
  EXPECT_NE(msg.find("different lengths"), std::string::npos) << msg;
  msg = error_of([&] { (void)scaled_dot_product_attention(q, k, v, false, cast(Tensor::zeros({2, 3}), DType::boolean)); });
  EXPECT_NE(msg.find("must be [2, 5]"), std::string::npos) << msg;
  msg = error_of([&] { (void)scaled_dot_product_attention(q, k, v, false, Tensor::zeros({2, 5})); });
  EXPECT_NE(msg.find("must be bool"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln
