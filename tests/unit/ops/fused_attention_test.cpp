// The fused (tiled) scaled_dot_product_attention and causal_self_attention_qkv
// against the composed attention: values and gradients over random shapes
// (block-size remainders, Tq < Tk, dv != d, strided views), masks, rows with no
// visible key, finite differences, precisions, and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"

namespace kiln {
namespace {

using test::error_of;
using test::expect_contains;
using test::gradcheck_error;
using test::make_input;
using test::pick;

struct Grads {
  Tensor out, dq, dk, dv;
};

// out = attention(q, k, v) and the gradients of sum(out · weight) for fresh leaves.
template <class Attention>
Grads run(Attention attention, const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& weight) {
  Tensor q = q0.detach(), k = k0.detach(), v = v0.detach();
  q.set_requires_grad(true);
  k.set_requires_grad(true);
  v.set_requires_grad(true);
  const Tensor out = attention(q, k, v);
  sum(mul(out, weight)).backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (const double x : t.to_vector<double>()) m = std::max(m, std::fabs(x));
  return m;
}

// Largest |a - b| over the elements, failing on any NaN.
double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_FALSE(std::isnan(x[i]) || std::isnan(y[i])) << "index " << i;
    m = std::max(m, std::fabs(x[i] - y[i]));
  }
  return m;
}

// A bool [B, Tk] mask padding a random tail of each batch row; batch row
// `all_padded` (if in range) hides every key.
Tensor tail_padding(Generator& gen, std::int64_t B, std::int64_t Tk, std::int64_t all_padded) {
  std::vector<std::uint8_t> flat;
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t keep = b == all_padded ? 0 : pick(gen, 1, Tk);
    for (std::int64_t j = 0; j < Tk; ++j) flat.push_back(j >= keep ? 1 : 0);
  }
  return cast(Tensor::from_vector(flat, {B, Tk}), DType::boolean);
}

struct Case {
  std::int64_t B, H, Tq, Tk, d, dv;
  bool causal, padded, three_d, strided;
};

std::string describe(const Case& c) {
  return "B " + std::to_string(c.B) + " H " + std::to_string(c.H) + " Tq " + std::to_string(c.Tq) + " Tk " +
         std::to_string(c.Tk) + " d " + std::to_string(c.d) + " dv " + std::to_string(c.dv) + " causal " +
         std::to_string(c.causal) + " padded " + std::to_string(c.padded) + " 3-d " + std::to_string(c.three_d) +
         " strided " + std::to_string(c.strided);
}

// q, k, v for a case: contiguous, or (strided) views into one wider buffer
// with the head and time dims swapped, as heads cut from a packed projection are.
Tensor operand(Generator& gen, const Case& c, std::int64_t T, std::int64_t width) {
  const Shape shape = c.three_d ? Shape{c.B, T, width} : Shape{c.B, c.H, T, width};
  if (!c.strided) return randn(shape, gen, DType::f64);
  if (c.three_d) return randn({c.B, T, width + 5}, gen, DType::f64).slice(2, 3, 3 + width);
  return randn({c.B, T, c.H, width + 3}, gen, DType::f64).slice(3, 1, 1 + width).permute({0, 2, 1, 3});
}

TEST(FusedAttention, MatchesComposedOverRandomShapesF64) {
  Generator gen(2024);
  // The f64 kernel's blocks are 32 queries and 32 keys with AVX-512 (16 with
  // AVX2): lengths around and beyond multiples of 32 exercise partial tiles,
  // several blocks, causal skipping and Tq < Tk.
  const std::int64_t lengths[] = {1, 5, 31, 32, 33, 64, 70, 97};
  for (int trial = 0; trial < 40; ++trial) {
    Case c{};
    c.B = pick(gen, 1, 3);
    c.H = pick(gen, 1, 3);
    c.Tk = lengths[pick(gen, 0, 7)];
    c.Tq = trial % 3 == 0 ? c.Tk : lengths[pick(gen, 0, 7)];  // Tq > Tk too: early causal rows see nothing
    c.d = pick(gen, 8, 64);
    c.dv = trial % 4 == 0 ? c.d : pick(gen, 8, 64);
    c.causal = trial % 2 == 0;
    c.padded = trial % 5 >= 3;
    c.three_d = trial % 7 == 6;
    c.strided = trial % 3 == 1;
    if (c.three_d) c.H = 1;
    SCOPED_TRACE(describe(c));
    const Tensor q = operand(gen, c, c.Tq, c.d), k = operand(gen, c, c.Tk, c.d), v = operand(gen, c, c.Tk, c.dv);
    const Tensor mask = c.padded ? tail_padding(gen, c.B, c.Tk, trial % 2) : Tensor();
    Shape out_shape = q.shape();
    out_shape.back() = c.dv;
    const Tensor weight = randn(out_shape, gen, DType::f64);
    const double scale = trial % 6 == 5 ? 0.3 : 1.0 / std::sqrt(static_cast<double>(c.d));
    const Grads fused = run([&](const Tensor& a, const Tensor& b, const Tensor& e) {
      return scaled_dot_product_attention(a, b, e, c.causal, mask, scale);
    }, q, k, v, weight);
    const Grads ref = run([&](const Tensor& a, const Tensor& b, const Tensor& e) {
      return scaled_dot_product_attention_composed(a, b, e, c.causal, mask, scale);
    }, q, k, v, weight);
    EXPECT_LT(max_diff(fused.out, ref.out), 1e-12);
    EXPECT_LT(max_diff(fused.dq, ref.dq), 1e-11);
    EXPECT_LT(max_diff(fused.dk, ref.dk), 1e-11);
    EXPECT_LT(max_diff(fused.dv, ref.dv), 1e-11);
  }
}

TEST(FusedAttention, RowsWithNoVisibleKeyAreZeroWithZeroGradient) {
  Generator gen(7);
  // Batch 1 is all padding; with causal and Tq > Tk the first Tq - Tk queries of batch 0 see no key.
  const std::int64_t B = 2, H = 2, Tq = 40, Tk = 35, d = 16;
  std::vector<std::uint8_t> flat(static_cast<std::size_t>(B * Tk), 0);
  std::fill(flat.begin() + Tk, flat.end(), 1);
  flat[10] = 1;  // and one padded key in batch 0
  const Tensor mask = cast(Tensor::from_vector(flat, {B, Tk}), DType::boolean);
  const Tensor q = randn({B, H, Tq, d}, gen, DType::f64), k = randn({B, H, Tk, d}, gen, DType::f64);
  const Tensor v = randn({B, H, Tk, d}, gen, DType::f64), weight = randn({B, H, Tq, d}, gen, DType::f64);
  const Grads g = run([&](const Tensor& a, const Tensor& b, const Tensor& e) {
    return scaled_dot_product_attention(a, b, e, true, mask);
  }, q, k, v, weight);
  EXPECT_EQ(max_abs(g.out.slice(0, 1, 2)), 0.0);
  EXPECT_EQ(max_abs(g.out.slice(0, 0, 1).slice(2, 0, Tq - Tk)), 0.0);
  EXPECT_GT(max_abs(g.out.slice(0, 0, 1).slice(2, Tq - Tk, Tq)), 0.0);
  EXPECT_EQ(max_abs(g.dq.slice(0, 1, 2)), 0.0);
  EXPECT_EQ(max_abs(g.dq.slice(0, 0, 1).slice(2, 0, Tq - Tk)), 0.0);
  EXPECT_EQ(max_abs(g.dk.slice(0, 1, 2)), 0.0);
  EXPECT_EQ(max_abs(g.dv.slice(0, 1, 2)), 0.0);
  EXPECT_EQ(max_abs(g.dk.slice(2, 10, 11)), 0.0);  // the padded key of batch 0
  EXPECT_EQ(max_abs(g.dv.slice(2, 10, 11)), 0.0);
  for (const Tensor* t : {&g.out, &g.dq, &g.dk, &g.dv}) {
    for (const double x : t->to_vector<double>()) ASSERT_TRUE(std::isfinite(x));
  }
  // The same in f32 and bf16 (f32 statistics): zeros, never NaN.
  for (const DType dt : {DType::f32, DType::bf16}) {
    const Grads h = run([&](const Tensor& a, const Tensor& b, const Tensor& e) {
      return scaled_dot_product_attention(a, b, e, true, mask);
    }, q.to(dt), k.to(dt), v.to(dt), weight.to(dt));
    EXPECT_EQ(max_abs(h.out.slice(0, 1, 2)), 0.0) << dtype_name(dt);
    EXPECT_EQ(max_abs(h.dq.slice(0, 1, 2)), 0.0) << dtype_name(dt);
    for (const Tensor* t : {&h.out, &h.dq, &h.dk, &h.dv}) {
      for (const double x : t->to_vector<double>()) ASSERT_TRUE(std::isfinite(x)) << dtype_name(dt);
    }
  }
}

TEST(FusedAttention, FiniteDifferenceGradients) {
  Generator gen(11);
  const Tensor mask = cast(Tensor::from_vector(std::vector<std::uint8_t>{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0}, {2, 6}),
                           DType::boolean);
  for (const bool causal : {false, true}) {
    for (const bool padded : {false, true}) {
      const Tensor q = make_input({2, 2, 4, 5}, gen), k = make_input({2, 2, 6, 5}, gen);
      const Tensor v = make_input({2, 2, 6, 3}, gen);
      const Tensor m = padded ? mask : Tensor();
      const auto attention = [&](const auto& in) {
        return scaled_dot_product_attention(in[0], in[1], in[2], causal, m);
      };
      EXPECT_LT(gradcheck_error(attention, {q, k, v}), 1e-7)
          << "causal " << causal << " padded " << padded;
    }
  }
  // The packed entry point, with a padding mask.
  const Tensor qkv = make_input({2, 6, 3 * 6}, gen);
  EXPECT_LT(gradcheck_error([&](const auto& in) { return causal_self_attention_qkv(in[0], 2, mask); }, {qkv}), 1e-7);
}

// The packed entry point through ordinary views and the 4-d fused op: heads of
// q | k | v as [B, H, T, d], merged back to [B, T, C].
Tensor packed_by_views(const Tensor& qkv, std::int64_t H, const Tensor& mask) {
  const std::int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
  const auto heads = [&](std::int64_t part) {
    return qkv.slice(2, part * C, (part + 1) * C).reshape({B, T, H, C / H}).permute({0, 2, 1, 3});
  };
  const Tensor y = scaled_dot_product_attention(heads(0), heads(1), heads(2), true, mask);
  return y.permute({0, 2, 1, 3}).reshape({B, T, C});
}

TEST(FusedAttention, PackedQkvMatchesFourDimPath) {
  Generator gen(5);
  struct Shape3 {
    std::int64_t B, T, H, d;
  };
  for (const Shape3 s : {Shape3{2, 70, 3, 16}, Shape3{1, 33, 4, 8}, Shape3{3, 5, 2, 24}}) {
    for (const bool padded : {false, true}) {
      SCOPED_TRACE("T " + std::to_string(s.T) + " padded " + std::to_string(padded));
      const std::int64_t C = s.H * s.d;
      const Tensor mask = padded ? tail_padding(gen, s.B, s.T, 0) : Tensor();
      const Tensor qkv0 = randn({s.B, s.T, 3 * C}, gen, DType::f64);
      const Tensor weight = randn({s.B, s.T, C}, gen, DType::f64);
      Tensor a = qkv0.detach().set_requires_grad(true), b = qkv0.detach().set_requires_grad(true);
      const Tensor y = causal_self_attention_qkv(a, s.H, mask);
      const Tensor y_ref = packed_by_views(b, s.H, mask);
      ASSERT_EQ(y.shape(), (Shape{s.B, s.T, C}));
      EXPECT_LT(max_diff(y, y_ref), 1e-13);
      // One node, straight on qkv: the packed gradient comes from it directly.
      EXPECT_STREQ(y.grad_fn()->name, "causal_self_attention_qkv");
      ASSERT_EQ(y.grad_fn()->inputs.size(), 1U);
      EXPECT_EQ(y.grad_fn()->inputs[0].get(), a.id());
      sum(mul(y, weight)).backward();
      sum(mul(y_ref, weight)).backward();
      ASSERT_EQ(a.grad().shape(), (Shape{s.B, s.T, 3 * C}));
      EXPECT_LT(max_diff(a.grad(), b.grad()), 1e-13);
    }
  }
  // A non-unit-stride qkv (every other column of a wider buffer) gives the same.
  const Tensor wide = randn({2, 9, 2 * 3 * 8}, gen, DType::f64);
  const Tensor strided = wide.slice(2, 0, 2 * 3 * 8, 2);
  EXPECT_LT(max_diff(causal_self_attention_qkv(strided, 2), packed_by_views(strided.contiguous(), 2, Tensor())), 1e-13);
}

// Max |a - b| relative to max |b|.
double relative_diff(const Tensor& a, const Tensor& b) { return max_diff(a, b) / std::max(max_abs(b), 1e-30); }

TEST(FusedAttention, F32MatchesF64) {
  Generator gen(9);
  // Several f32 blocks (64), a partial last one, Tq < Tk, GPT's head size.
  for (const bool causal : {false, true}) {
    const Tensor q = randn({2, 3, 150, 64}, gen, DType::f64), k = randn({2, 3, 190, 64}, gen, DType::f64);
    const Tensor v = randn({2, 3, 190, 48}, gen, DType::f64), weight = randn({2, 3, 150, 48}, gen, DType::f64);
    const auto attention = [&](const Tensor& a, const Tensor& b, const Tensor& e) {
      return scaled_dot_product_attention(a, b, e, causal);
    };
    const Grads g64 = run(attention, q, k, v, weight);
    const Grads g32 = run(attention, q.to(DType::f32), k.to(DType::f32), v.to(DType::f32), weight.to(DType::f32));
    EXPECT_LT(relative_diff(g32.out, g64.out), 1e-5) << "causal " << causal;
    EXPECT_LT(relative_diff(g32.dq, g64.dq), 1e-5) << "causal " << causal;
    EXPECT_LT(relative_diff(g32.dk, g64.dk), 1e-5) << "causal " << causal;
    EXPECT_LT(relative_diff(g32.dv, g64.dv), 1e-5) << "causal " << causal;
  }
}

TEST(FusedAttention, Bf16MatchesF32) {
  Generator gen(13);
  const Tensor qkv = randn({2, 130, 3 * 4 * 32}, gen, DType::f32);
  const Tensor weight = randn({2, 130, 4 * 32}, gen, DType::f32);
  // The reference sees the same bf16-rounded inputs, so only the kernel's rounding differs.
  const Tensor rounded = qkv.to(DType::bf16).to(DType::f32);
  Tensor a = rounded.detach().set_requires_grad(true), b = qkv.to(DType::bf16).set_requires_grad(true);
  const Tensor y32 = causal_self_attention_qkv(a, 4), y16 = causal_self_attention_qkv(b, 4);
  ASSERT_EQ(y16.dtype(), DType::bf16);
  EXPECT_LT(relative_diff(y16, y32), 1e-2);
  sum(mul(y32, weight)).backward();
  sum(mul(y16, weight.to(DType::bf16))).backward();
  ASSERT_EQ(b.grad().dtype(), DType::bf16);
  EXPECT_LT(relative_diff(b.grad(), a.grad()), 2e-2);
}

TEST(FusedAttention, BroadcastBatchDimsFallBackToComposed) {
  Generator gen(17);
  // k and v shared by both batch rows: broadcast batch dims take the composed
  // path; the same operands expanded (stride 0) take the fused one.
  const Tensor q = randn({2, 3, 9, 8}, gen, DType::f64), k = randn({1, 3, 12, 8}, gen, DType::f64);
  const Tensor v = randn({1, 3, 12, 5}, gen, DType::f64), weight = randn({2, 3, 9, 5}, gen, DType::f64);
  const Grads broadcast = run([](const Tensor& a, const Tensor& b, const Tensor& e) {
    return scaled_dot_product_attention(a, b, e, true);
  }, q, k, v, weight);
  const Grads expanded = run([](const Tensor& a, const Tensor& b, const Tensor& e) {
    return scaled_dot_product_attention(a, b.expand({2, 3, 12, 8}), e.expand({2, 3, 12, 5}), true);
  }, q, k, v, weight);
  EXPECT_LT(max_diff(broadcast.out, expanded.out), 1e-12);
  EXPECT_LT(max_diff(broadcast.dq, expanded.dq), 1e-12);
  EXPECT_LT(max_diff(broadcast.dk, expanded.dk), 1e-12);
  EXPECT_LT(max_diff(broadcast.dv, expanded.dv), 1e-12);
}

TEST(FusedAttention, ErrorsNameShapes) {
  const Tensor qkv = Tensor::zeros({2, 5, 30});
  expect_contains(error_of([&] { (void)causal_self_attention_qkv(qkv, 4); }),
                  {"causal_self_attention_qkv", "f32[2, 5, 30]", "heads = 4", "3·heads = 12"});
  expect_contains(error_of([&] { (void)causal_self_attention_qkv(Tensor::zeros({2, 5, 31}), 1); }),
                  {"f32[2, 5, 31]", "heads = 1"});
  expect_contains(error_of([&] { (void)causal_self_attention_qkv(Tensor::zeros({10, 30}), 2); }),
                  {"[B, T, 3C]", "f32[10, 30]"});
  const Tensor short_mask = cast(Tensor::zeros({2, 4}), DType::boolean);
  expect_contains(error_of([&] { (void)causal_self_attention_qkv(qkv, 2, short_mask); }),
                  {"key_padding_mask", "bool[2, 4]", "must be [2, 5]", "qkv f32[2, 5, 30]"});
  expect_contains(error_of([&] { (void)causal_self_attention_qkv(qkv, 2, Tensor::zeros({2, 5})); }),
                  {"key_padding_mask", "must be bool"});
  // The 4-d op: the mask names q's shape.
  const Tensor q = Tensor::zeros({2, 3, 4, 8}), k = Tensor::zeros({2, 3, 6, 8});
  expect_contains(error_of([&] { (void)scaled_dot_product_attention(q, k, k, true, short_mask); }),
                  {"must be [2, 6]", "q f32[2, 3, 4, 8]"});
}

}  // namespace
}  // namespace kiln
