// The LSTM and GRU layer ops: gradient checks of the fused cells through
// BPTT (f64, with padding masks, holes, initial state and recurrent dropout),
// agreement with the same recurrence unrolled from elementary kiln ops, f32
// against f64, and argument errors. PyTorch agreement is in tests/unit/nn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/rnn.h"

namespace kiln {
namespace {

using test::error_of;
using test::expect_contains;
using test::gradcheck_error;

enum class Kind { lstm, gru };

struct Config {
  Kind kind = Kind::lstm;
  std::int64_t T = 4, B = 3, in = 3, H = 4;
  bool reverse = false;
  bool bias = true;
  bool initial_state = false;
  enum class Mask { none, lengths, holes } mask = Mask::none;
  bool recurrent_dropout = false;
};

std::int64_t gates(Kind k) { return k == Kind::lstm ? 4 : 3; }

// Inputs in gradcheck order: x, w_ih, w_hh, [b_ih, b_hh], [h0, (c0)].
std::vector<Tensor> make_inputs(const Config& s, Generator& gen) {
  const std::int64_t G = gates(s.kind);
  const double w = 1.5 / std::sqrt(static_cast<double>(s.H));  // a little wider than torch's 1/√H
  std::vector<Tensor> in{test::make_input({s.T, s.B, s.in}, gen, test::Layout::contiguous, -1.5, 1.5),
                         test::make_input({G * s.H, s.in}, gen, test::Layout::transposed, -w, w),
                         test::make_input({G * s.H, s.H}, gen, test::Layout::contiguous, -w, w)};
  if (s.bias) {
    in.push_back(test::make_input({G * s.H}, gen, test::Layout::contiguous, -0.5, 0.5));
    in.push_back(test::make_input({G * s.H}, gen, test::Layout::contiguous, -0.5, 0.5));
  }
  if (s.initial_state) {
    in.push_back(test::make_input({s.B, s.H}, gen, test::Layout::sliced, -1, 1));
    if (s.kind == Kind::lstm) in.push_back(test::make_input({s.B, s.H}, gen, test::Layout::contiguous, -1, 1));
  }
  return in;
}

// [T, B] bool: suffix padding (lengths T, T-2, 1, ...) or an irregular pattern with holes.
Tensor make_mask(const Config& s) {
  if (s.mask == Config::Mask::none) return Tensor();
  std::vector<bool> m(static_cast<std::size_t>(s.T * s.B));
  for (std::int64_t t = 0; t < s.T; ++t) {
    for (std::int64_t b = 0; b < s.B; ++b) {
      const std::int64_t len = b == 0 ? s.T : std::max<std::int64_t>(1, s.T - 2 * b);
      m[static_cast<std::size_t>(t * s.B + b)] =
          s.mask == Config::Mask::lengths ? t < len : (t * 7 + b * 3) % 4 != 1;
    }
  }
  return Tensor::from_vector(m, {s.T, s.B});
}

// A Keras-style recurrent dropout mask with p = 0.5: values 0 or 2.
Tensor make_rec_mask(const Config& s) {
  if (!s.recurrent_dropout) return Tensor();
  std::vector<double> v(static_cast<std::size_t>(s.B * s.H));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = (i * 5 + 1) % 3 == 0 ? 0.0 : 2.0;
  return Tensor::from_vector(v, {s.B, s.H});
}

RnnLayerOutput run(const Config& s, const std::vector<Tensor>& in, const Tensor& mask, const Tensor& rec) {
  std::size_t i = 3;
  RnnWeights w{.w_ih = in[1], .w_hh = in[2]};
  if (s.bias) {
    w.b_ih = in[i++];
    w.b_hh = in[i++];
  }
  RnnLayerOptions o{.reverse = s.reverse, .mask = mask, .recurrent_mask = rec.defined() ? rec.to(in[0].dtype()) : rec};
  if (s.initial_state) {
    o.h0 = in[i++];
    if (s.kind == Kind::lstm) o.c0 = in[i++];
  }
  return s.kind == Kind::lstm ? lstm_layer(in[0], w, o) : gru_layer(in[0], w, o);
}

// Every result in one tensor, so a check weighs output, h_n and c_n alike.
Tensor all_results(const RnnLayerOutput& r) {
  std::vector<Tensor> parts{r.output.flatten(), r.h_n.flatten()};
  if (r.c_n.defined()) parts.push_back(r.c_n.flatten());
  return concat(parts, 0);
}

std::string describe(const Config& s) {
  return std::string(s.kind == Kind::lstm ? "lstm" : "gru") + " T=" + std::to_string(s.T) +
         (s.reverse ? " reverse" : "") + (s.bias ? "" : " no-bias") + (s.initial_state ? " h0" : "") +
         (s.mask == Config::Mask::lengths ? " lengths" : s.mask == Config::Mask::holes ? " holes" : "") +
         (s.recurrent_dropout ? " recurrent-dropout" : "");
}

std::vector<Config> gradcheck_configs(Kind kind) {
  std::vector<Config> out;
  // A single step: the fused cell and its backward alone.
  out.push_back({.kind = kind, .T = 1, .initial_state = true});
  out.push_back({.kind = kind, .T = 1});
  for (const bool reverse : {false, true}) {
    out.push_back({.kind = kind, .reverse = reverse});
    out.push_back({.kind = kind, .reverse = reverse, .initial_state = true, .mask = Config::Mask::lengths});
    out.push_back({.kind = kind, .reverse = reverse, .bias = false, .mask = Config::Mask::holes,
                   .recurrent_dropout = true});
    out.push_back({.kind = kind, .T = 5, .reverse = reverse, .initial_state = true, .mask = Config::Mask::holes,
                   .recurrent_dropout = true});
  }
  return out;
}

void gradcheck_all(Kind kind) {
  for (const Config& s : gradcheck_configs(kind)) {
    Generator gen(11);
    const Tensor mask = make_mask(s), rec = make_rec_mask(s);
    const double err = gradcheck_error(
        [&](const std::vector<Tensor>& xs) { return all_results(run(s, xs, mask, rec)); }, make_inputs(s, gen));
    EXPECT_LE(err, 1e-6) << describe(s);
  }
}

TEST(RnnOps, LstmGradientsMatchFiniteDifferences) { gradcheck_all(Kind::lstm); }
TEST(RnnOps, GruGradientsMatchFiniteDifferences) { gradcheck_all(Kind::gru); }

// ---- the same recurrence from elementary ops ------------------------------------

RnnLayerOutput unrolled(const Config& s, const std::vector<Tensor>& in, const Tensor& mask, const Tensor& rec) {
  const Tensor& x = in[0];
  const Tensor& w_ih = in[1];
  const Tensor& w_hh = in[2];
  std::size_t i = 3;
  const Tensor b_ih = s.bias ? in[i++] : Tensor(), b_hh = s.bias ? in[i++] : Tensor();
  const std::int64_t H = s.H;
  Tensor h = s.initial_state ? in[i++] : Tensor::zeros({s.B, H}, DType::f64);
  Tensor c = s.initial_state && s.kind == Kind::lstm ? in[i++] : Tensor::zeros({s.B, H}, DType::f64);
  std::vector<Tensor> ys(static_cast<std::size_t>(s.T));
  for (std::int64_t k = 0; k < s.T; ++k) {
    const std::int64_t t = s.reverse ? s.T - 1 - k : k;
    const Tensor xt = x.slice(0, t, t + 1).squeeze(0);
    const Tensor hr = rec.defined() ? mul(h, rec) : h;
    const Tensor gx = linear(xt, w_ih, b_ih), gh = linear(hr, w_hh, b_hh);
    Tensor h_new, c_new;
    if (s.kind == Kind::lstm) {
      const Tensor g = add(gx, gh);
      const Tensor ig = sigmoid(g.slice(1, 0, H)), fg = sigmoid(g.slice(1, H, 2 * H));
      const Tensor gg = tanh(g.slice(1, 2 * H, 3 * H)), og = sigmoid(g.slice(1, 3 * H, 4 * H));
      c_new = add(mul(fg, c), mul(ig, gg));
      h_new = mul(og, tanh(c_new));
    } else {
      const Tensor r = sigmoid(add(gx.slice(1, 0, H), gh.slice(1, 0, H)));
      const Tensor z = sigmoid(add(gx.slice(1, H, 2 * H), gh.slice(1, H, 2 * H)));
      const Tensor n = tanh(add(gx.slice(1, 2 * H, 3 * H), mul(r, gh.slice(1, 2 * H, 3 * H))));
      h_new = add(mul(rsub(1.0, z), n), mul(z, h));
    }
    if (mask.defined()) {
      const Tensor m = mask.slice(0, t, t + 1).squeeze(0).unsqueeze(1);  // [B, 1]
      h = where(m, h_new, h);
      if (s.kind == Kind::lstm) c = where(m, c_new, c);
      ys[static_cast<std::size_t>(t)] = where(m, h_new, Tensor::zeros({1}, DType::f64));
    } else {
      h = h_new;
      c = c_new;
      ys[static_cast<std::size_t>(t)] = h_new;
    }
  }
  return {.output = stack(ys, 0), .h_n = h, .c_n = s.kind == Kind::lstm ? c : Tensor()};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
  return worst;
}

void compare_with_unrolled(Kind kind) {
  for (const Config& base : gradcheck_configs(kind)) {
    Config s = base;
    s.T += 3;
    s.B = 5;
    s.H = 6;
    Generator gen(5);
    const Tensor mask = make_mask(s), rec = make_rec_mask(s);
    const std::vector<Tensor> in = make_inputs(s, gen);
    const Tensor weight = randn({s.T * s.B * s.H + (kind == Kind::lstm ? 2 : 1) * s.B * s.H}, gen, DType::f64);
    auto grads_of = [&](const Tensor& results) {
      for (Tensor t : in) t.zero_grad();
      sum(mul(results, weight)).backward();
      std::vector<Tensor> g;
      for (const Tensor& t : in) g.push_back(t.grad().clone());
      return g;
    };
    const Tensor got = all_results(run(s, in, mask, rec));
    const Tensor want = all_results(unrolled(s, in, mask, rec));
    EXPECT_LE(max_abs_diff(got, want), 1e-12) << describe(s);
    const auto g_got = grads_of(got), g_want = grads_of(want);
    for (std::size_t i = 0; i < in.size(); ++i) {
      EXPECT_LE(max_abs_diff(g_got[i], g_want[i]), 1e-11) << describe(s) << ", gradient of input " << i;
    }
  }
}

TEST(RnnOps, LstmMatchesTheRecurrenceUnrolledFromElementaryOps) { compare_with_unrolled(Kind::lstm); }
TEST(RnnOps, GruMatchesTheRecurrenceUnrolledFromElementaryOps) { compare_with_unrolled(Kind::gru); }

// f32 kernels (polynomial exp/tanh, oneDNN GEMM) against the f64 path on a longer, wider run.
void compare_f32_with_f64(Kind kind) {
  const Config s{.kind = kind, .T = 30, .B = 9, .in = 7, .H = 33, .reverse = true, .initial_state = true,
                .mask = Config::Mask::lengths, .recurrent_dropout = true};
  Generator gen(3);
  const std::vector<Tensor> in64 = make_inputs(s, gen);
  std::vector<Tensor> in32;
  for (const Tensor& t : in64) in32.push_back(t.detach().to(DType::f32).set_requires_grad(true));
  const Tensor mask = make_mask(s), rec = make_rec_mask(s);
  const Tensor r64 = all_results(run(s, in64, mask, rec)), r32 = all_results(run(s, in32, mask, rec));
  EXPECT_LE(max_abs_diff(r32, r64), 2e-6);
  const Tensor weight = randn(r64.shape(), gen, DType::f64);
  sum(mul(r64, weight)).backward();
  sum(mul(r32, weight.to(DType::f32))).backward();
  for (std::size_t i = 0; i < in64.size(); ++i) {
    const double scale = std::max(1.0, max_abs_diff(in64[i].grad(), Tensor::zeros(in64[i].shape(), DType::f64)));
    EXPECT_LE(max_abs_diff(in32[i].grad(), in64[i].grad()) / scale, 2e-5) << "gradient of input " << i;
  }
}

TEST(RnnOps, LstmInF32AgreesWithF64) { compare_f32_with_f64(Kind::lstm); }
TEST(RnnOps, GruInF32AgreesWithF64) { compare_f32_with_f64(Kind::gru); }

TEST(RnnOps, PaddedStepsOutputZeroAndKeepTheState) {
  const Config s{.T = 5, .B = 3, .mask = Config::Mask::lengths};
  Generator gen(2);
  const std::vector<Tensor> in = make_inputs(s, gen);
  const Tensor mask = make_mask(s);
  const RnnLayerOutput r = run(s, in, mask, Tensor());
  // Sequence 1 has length 3: steps 3, 4 output 0 and h_n is the output of step 2.
  EXPECT_EQ(max_abs_diff(r.output.slice(0, 3, 5).slice(1, 1, 2), Tensor::zeros({2, 1, s.H}, DType::f64)), 0.0);
  EXPECT_EQ(max_abs_diff(r.h_n.slice(0, 1, 2), r.output.slice(0, 2, 3).slice(1, 1, 2).squeeze(0)), 0.0);
  EXPECT_GT(max_abs_diff(r.h_n.slice(0, 1, 2), Tensor::zeros({1, s.H}, DType::f64)), 0.0);
}

TEST(RnnOps, NoGraphUnderNoGradGuard) {
  const Config s{};
  Generator gen(4);
  const std::vector<Tensor> in = make_inputs(s, gen);
  NoGradGuard no_grad;
  const RnnLayerOutput r = run(s, in, Tensor(), Tensor());
  EXPECT_FALSE(r.output.requires_grad());
  EXPECT_FALSE(r.h_n.requires_grad());
}

TEST(RnnOps, SequenceMaskMarksStepsBelowEachLength) {
  const Tensor m = sequence_mask(Tensor::from_vector<std::int64_t>({3, 0, 1}, {3}), 4);
  EXPECT_EQ(m.dtype(), DType::boolean);
  EXPECT_EQ(m.shape(), (Shape{3, 4}));
  EXPECT_EQ(m.to_vector<int>(), (std::vector<int>{1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
  expect_contains(error_of([] { (void)sequence_mask(Tensor::zeros({3}), 4); }), {"sequence_mask", "integer"});
}

TEST(RnnOps, ErrorsNameTheOpAndTheOffendingTensor) {
  const Tensor x = Tensor::zeros({5, 2, 3});
  const RnnWeights w{.w_ih = Tensor::zeros({16, 3}), .w_hh = Tensor::zeros({16, 4})};
  expect_contains(error_of([&] { (void)lstm_layer(Tensor::zeros({2, 3}), w); }), {"lstm_layer", "3-d", "f32[2, 3]"});
  expect_contains(error_of([&] { (void)lstm_layer(x, {.w_ih = Tensor::zeros({16, 5}), .w_hh = w.w_hh}); }),
                  {"lstm_layer", "w_ih", "[16, 3]", "f32[16, 5]"});
  expect_contains(error_of([&] { (void)gru_layer(x, w); }), {"gru_layer", "w_hh", "3·H"});
  expect_contains(error_of([&] { (void)lstm_layer(x, {.w_ih = w.w_ih, .w_hh = w.w_hh, .b_ih = Tensor::zeros({12})}); }),
                  {"lstm_layer", "b_ih", "[16]"});
  expect_contains(error_of([&] { (void)lstm_layer(x, w, {.h0 = Tensor::zeros({3, 4})}); }),
                  {"lstm_layer", "h0", "[2, 4]", "f32[3, 4]"});
  expect_contains(error_of([&] { (void)lstm_layer(x, w, {.mask = Tensor::ones({5, 2})}); }),
                  {"lstm_layer", "mask", "bool"});
  expect_contains(error_of([&] { (void)lstm_layer(x, w, {.mask = Tensor::ones({2, 5}, DType::boolean)}); }),
                  {"lstm_layer", "mask", "[5, 2]"});
  expect_contains(error_of([&] { (void)lstm_layer(x.to(DType::f64), w); }), {"lstm_layer", "dtype"});
  expect_contains(error_of([&] { (void)lstm_layer(x.to(DType::bf16), w); }), {"lstm_layer", "f32 or f64"});
  const RnnWeights wg{.w_ih = Tensor::zeros({12, 3}), .w_hh = Tensor::zeros({12, 4})};
  expect_contains(error_of([&] { (void)gru_layer(x, wg, {.c0 = Tensor::zeros({2, 4})}); }), {"gru_layer", "c0"});
}

}  // namespace
}  // namespace kiln
