#pragma once
// What lstm_test.cpp and gru_test.cpp share: the replay of
// tests/fixtures/rnn-expected.safetensors (written by tests/tools/gen_rnn_fixtures.py
// from PyTorch 1.13), and behaviour checks that hold for any recurrent layer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "kiln/io/safetensors.h"
#include "kiln/nn/gru.h"
#include "kiln/nn/lstm.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/rnn.h"

namespace kiln::test {

inline io::SafetensorsFile rnn_fixture(const std::string& name) {
  return io::SafetensorsFile::open(std::string(KILN_FIXTURES_DIR) + "/" + name);
}

/// Largest |got - want| / max(1, |want|), as in the other fixture tests.
inline double fixture_error(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return 1e9;
  const auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    worst = std::max(worst, std::fabs(g[i] - w[i]) / std::max(1.0, std::fabs(w[i])));
  }
  return worst;
}

/// "1.2e-07", for test properties.
inline std::string scientific(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", v);
  return buf;
}

inline Tensor fixture_leaf(const Tensor& t, DType dtype) {
  Tensor l = t.to(dtype).contiguous().clone().detach();
  l.set_requires_grad(true);
  return l;
}

/// Runs every case whose "cell" is `cell` in `dtype` through the module,
/// comparing output, h_n, c_n and the gradient of the input, the initial
/// states and every parameter; returns how many cases ran and the worst error.
inline std::pair<int, double> replay_rnn_fixture(const std::string& cell, DType dtype, double tol) {
  const auto f = rnn_fixture("rnn-expected.safetensors");
  int cases = 0;
  double worst_all = 0.0;
  for (const auto& [key, value] : f.metadata()) {
    if (key.rfind("case.", 0) != 0) continue;
    const nlohmann::json cfg = nlohmann::json::parse(value);
    if (cfg.at("cell").get<std::string>() != cell) continue;
    ++cases;
    const std::string name = key.substr(5), p = name + ".";
    SCOPED_TRACE("case " + name + " in " + dtype_name(dtype));
    const nn::RnnOptions options{.input_size = cfg.at("input_size").get<std::int64_t>(),
                                 .hidden_size = cfg.at("hidden_size").get<std::int64_t>(),
                                 .num_layers = cfg.at("num_layers").get<std::int64_t>(),
                                 .bias = cfg.at("bias").get<bool>(),
                                 .bidirectional = cfg.at("bidirectional").get<bool>(),
                                 .batch_first = cfg.at("batch_first").get<bool>(),
                                 .return_sequences = true,
                                 .dtype = dtype};
    Generator gen(1);
    std::unique_ptr<nn::Recurrent> rnn;
    if (cell == "lstm") {
      rnn = std::make_unique<nn::LSTM>(options, gen);
    } else {
      rnn = std::make_unique<nn::GRU>(options, gen);
    }
    nn::StateDict state;
    for (const auto& [pname, ignored] : rnn->named_parameters()) {
      state.add(pname, f.tensor(p + "param." + pname).to(dtype));
    }
    rnn->load_state_dict(state);

    const Tensor x = fixture_leaf(f.tensor(p + "x"), dtype);
    nn::RnnState initial;
    if (f.contains(p + "h0")) initial.h = fixture_leaf(f.tensor(p + "h0"), dtype);
    if (f.contains(p + "c0")) initial.c = fixture_leaf(f.tensor(p + "c0"), dtype);
    const Tensor lengths = f.contains(p + "lengths") ? f.tensor(p + "lengths") : Tensor();
    const nn::RnnOutput r = rnn->forward_with_state(x, initial, lengths);
    Tensor loss = add(sum(mul(r.output, f.tensor(p + "grad_output").to(dtype))),
                      sum(mul(r.h_n, f.tensor(p + "grad_h_n").to(dtype))));
    if (r.c_n.defined()) loss = add(loss, sum(mul(r.c_n, f.tensor(p + "grad_c_n").to(dtype))));
    loss.backward();

    // Every expected result of the case must be checked, so list what was.
    std::set<std::string> checked;
    auto check = [&](const std::string& what, const Tensor& got) {
      ASSERT_TRUE(got.defined()) << what;
      const double err = fixture_error(got, f.tensor(p + what));
      worst_all = std::max(worst_all, err);
      EXPECT_LE(err, tol) << what;
      checked.insert(p + what);
    };
    check("output", r.output);
    check("h_n", r.h_n);
    if (r.c_n.defined()) check("c_n", r.c_n);
    check("grad.x", x.grad());
    if (initial.h.defined()) check("grad.h0", initial.h.grad());
    if (initial.c.defined()) check("grad.c0", initial.c.grad());
    for (const auto& [pname, param] : rnn->named_parameters()) check("grad." + pname, param.grad());
    for (const auto& e : f.entries()) {
      const bool result = e.name.rfind(p + "grad.", 0) == 0 || e.name == p + "output" || e.name == p + "h_n" ||
                          e.name == p + "c_n";
      if (result) {
        EXPECT_TRUE(checked.count(e.name)) << e.name << " was not compared";
      }
    }
  }
  return {cases, worst_all};
}

// ---- behaviour any recurrent layer must show ------------------------------------

using RnnFactory = std::function<std::unique_ptr<nn::Recurrent>(const nn::RnnOptions&, Generator&)>;

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 1e9;
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
  return worst;
}

/// PyTorch's names and shapes, in its order: per layer, per direction, w_ih, w_hh, b_ih, b_hh.
inline void check_parameter_names(const RnnFactory& make, std::int64_t gates) {
  Generator gen(3);
  const auto rnn = make({.input_size = 3, .hidden_size = 5, .num_layers = 2, .bidirectional = true}, gen);
  std::vector<std::pair<std::string, Shape>> want;
  for (const std::string l : {"_l0", "_l1"}) {
    for (const std::string d : {"", "_reverse"}) {
      const std::int64_t in = l == "_l0" ? 3 : 10;
      want.push_back({"weight_ih" + l + d, {gates * 5, in}});
      want.push_back({"weight_hh" + l + d, {gates * 5, 5}});
      want.push_back({"bias_ih" + l + d, {gates * 5}});
      want.push_back({"bias_hh" + l + d, {gates * 5}});
    }
  }
  const auto got = rnn->named_parameters();
  ASSERT_EQ(got.size(), want.size());
  const double bound = 1.0 / std::sqrt(5.0);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.shape(), want[i].second) << want[i].first;
    EXPECT_TRUE(got[i].second.requires_grad());
    for (const double v : got[i].second.to_vector<double>()) EXPECT_LE(std::fabs(v), bound) << want[i].first;
  }
  EXPECT_EQ(rnn->weights(1, 1).w_ih.id(), got[12].second.id());
  const auto no_bias = make({.input_size = 3, .hidden_size = 5, .bias = false}, gen);
  EXPECT_EQ(no_bias->named_parameters().size(), 2U);
}

/// A padded sequence gives at its real steps exactly what it gives alone and
/// unpadded; padded steps output 0; h_n (and c_n) are the states at its last
/// real step, in both directions. Lengths and the equivalent bool mask agree.
inline void check_padding_matches_truncation(const RnnFactory& make) {
  Generator gen(7);
  const std::int64_t T = 6, H = 5;
  const auto rnn = make({.input_size = 3, .hidden_size = H, .num_layers = 2, .bidirectional = true,
                         .batch_first = true, .dtype = DType::f64},
                        gen);
  const Tensor x = uniform({3, T, 3}, -1, 1, gen, DType::f64);
  const std::vector<std::int64_t> lengths{6, 4, 1};
  const Tensor len = Tensor::from_vector(lengths, {3});
  const nn::RnnOutput r = rnn->forward_with_state(x, {}, len);
  const nn::RnnOutput rm = rnn->forward_with_state(x, {}, sequence_mask(len, T));
  EXPECT_EQ(max_abs_diff(r.output, rm.output), 0.0);
  EXPECT_EQ(max_abs_diff(r.h_n, rm.h_n), 0.0);
  for (std::int64_t b = 0; b < 3; ++b) {
    const std::int64_t n = lengths[static_cast<std::size_t>(b)];
    SCOPED_TRACE("sequence " + std::to_string(b) + " of length " + std::to_string(n));
    const nn::RnnOutput alone = rnn->forward_with_state(x.slice(0, b, b + 1).slice(1, 0, n));
    EXPECT_LE(max_abs_diff(r.output.slice(0, b, b + 1).slice(1, 0, n), alone.output), 1e-14);
    if (n < T) {
      EXPECT_EQ(max_abs_diff(r.output.slice(0, b, b + 1).slice(1, n, T), Tensor::zeros({1, T - n, 2 * H}, DType::f64)),
                0.0);
    }
    EXPECT_LE(max_abs_diff(r.h_n.slice(1, b, b + 1), alone.h_n), 1e-14);
    if (r.c_n.defined()) {
      EXPECT_LE(max_abs_diff(r.c_n.slice(1, b, b + 1), alone.c_n), 1e-14);
    }
  }
}

/// Without return_sequences a layer returns Keras' last output: the forward
/// direction at each sequence's last real step, the backward one at step 0;
/// compute_mask drops the mask then, and passes it on with return_sequences.
inline void check_last_step_output(const RnnFactory& make) {
  Generator gen(8);
  const std::int64_t T = 5, H = 4;
  nn::RnnOptions o{.input_size = 3, .hidden_size = H, .num_layers = 2, .bidirectional = true, .batch_first = true,
                   .dtype = DType::f64};
  const auto last_only = make(o, gen);
  o.return_sequences = true;
  Generator same(8);
  const auto sequences = make(o, same);
  const Tensor x = uniform({3, T, 3}, -1, 1, gen, DType::f64);
  const Tensor mask = sequence_mask(Tensor::from_vector<std::int64_t>({5, 2, 3}, {3}), T);
  const Tensor last = (*last_only)(x, mask);
  const Tensor seq = (*sequences)(x, mask);
  ASSERT_EQ(last.shape(), (Shape{3, 2 * H}));
  ASSERT_EQ(seq.shape(), (Shape{3, T, 2 * H}));
  const std::vector<std::int64_t> len{5, 2, 3};
  for (std::int64_t b = 0; b < 3; ++b) {
    const Tensor row = seq.slice(0, b, b + 1).squeeze(0);  // [T, 2H]
    const std::int64_t t_last = len[static_cast<std::size_t>(b)] - 1;
    const Tensor forward_last = row.slice(0, t_last, t_last + 1).slice(1, 0, H);
    const Tensor backward_first = row.slice(0, 0, 1).slice(1, H, 2 * H);
    const Tensor want = concat({forward_last, backward_first}, 1);
    EXPECT_EQ(max_abs_diff(last.slice(0, b, b + 1), want), 0.0) << "sequence " << b;
  }
  EXPECT_FALSE(last_only->compute_mask(x, mask).defined());
  EXPECT_EQ(sequences->compute_mask(x, mask).id(), mask.id());
}

/// Keras' input dropout: one mask per sequence on the inputs, the same at every
/// step (so the input gradient is 0 on the same features at every step).
/// Keras' recurrent dropout: one mask per sequence on h where it feeds the
/// recurrent product (so W_hh's gradient has whole zero columns). PyTorch's
/// inter-layer dropout: fresh masks per call. None acts in eval mode.
inline void check_dropout_semantics(const RnnFactory& make) {
  const std::int64_t B = 2, T = 5, in = 8, H = 16;
  Generator gen(9);
  {
    const auto rnn = make({.input_size = in, .hidden_size = 4, .input_dropout = 0.5, .batch_first = true,
                           .return_sequences = true, .dtype = DType::f64},
                          gen);
    Tensor x = uniform({B, T, in}, -1, 1, gen, DType::f64).set_requires_grad(true);
    sum((*rnn)(x)).backward();
    const auto g = x.grad().to_vector<double>();
    int dropped = 0;
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t j = 0; j < in; ++j) {
        const bool zero = g[static_cast<std::size_t>((b * T) * in + j)] == 0.0;
        dropped += zero ? 1 : 0;
        for (std::int64_t t = 1; t < T; ++t) {
          EXPECT_EQ(g[static_cast<std::size_t>((b * T + t) * in + j)] == 0.0, zero)
              << "input feature " << j << " of sequence " << b << " at step " << t;
        }
      }
    }
    EXPECT_GT(dropped, 0);
    EXPECT_LT(dropped, B * in);
  }
  {
    const auto rnn = make({.input_size = 3, .hidden_size = H, .recurrent_dropout = 0.5, .batch_first = true,
                           .dtype = DType::f64},
                          gen);
    const Tensor x = uniform({1, T, 3}, -1, 1, gen, DType::f64);
    sum((*rnn)(x)).backward();
    const Tensor dw = rnn->weights(0).w_hh.grad();  // [G·H, H]
    int zero_columns = 0;
    for (std::int64_t j = 0; j < H; ++j) {
      zero_columns += max_abs_diff(dw.slice(1, j, j + 1), Tensor::zeros({dw.size(0), 1}, DType::f64)) == 0.0 ? 1 : 0;
    }
    EXPECT_GT(zero_columns, 0);
    EXPECT_LT(zero_columns, H);
  }
  {
    const nn::RnnOptions o{.input_size = 3, .hidden_size = 4, .num_layers = 2, .inter_layer_dropout = 0.5,
                           .input_dropout = 0.3, .recurrent_dropout = 0.3, .batch_first = true,
                           .return_sequences = true, .dtype = DType::f64};
    Generator g1(10), g2(10);
    const auto rnn = make(o, g1);
    nn::RnnOptions plain = o;
    plain.inter_layer_dropout = plain.input_dropout = plain.recurrent_dropout = 0.0;
    const auto twin = make(plain, g2);  // the same parameters: dropout draws nothing at construction
    const Tensor x = uniform({B, T, 3}, -1, 1, gen, DType::f64);
    EXPECT_GT(max_abs_diff((*rnn)(x), (*rnn)(x)), 0.0);
    rnn->eval();
    EXPECT_EQ(max_abs_diff((*rnn)(x), (*twin)(x)), 0.0);
  }
}

/// Errors name the layer and what is wrong.
inline void check_errors(const RnnFactory& make, const std::string& kind) {
  Generator gen(1);
  auto error_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "expected a kiln::Error";
    return std::string();
  };
  auto expect = [](const std::string& msg, std::initializer_list<const char*> parts) {
    for (const char* part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  };
  expect(error_of([&] { make({.input_size = 3, .hidden_size = 0}, gen); }), {kind.c_str(), "hidden_size", "0"});
  expect(error_of([&] { make({.input_size = 3, .hidden_size = 4, .recurrent_dropout = 1.0}, gen); }),
         {kind.c_str(), "recurrent_dropout", "[0, 1)"});
  expect(error_of([&] { make({.input_size = 3, .hidden_size = 4, .inter_layer_dropout = 0.2}, gen); }),
         {kind.c_str(), "inter_layer_dropout", "num_layers = 1", "input_dropout"});
  const auto rnn = make({.input_size = 3, .hidden_size = 4, .batch_first = true}, gen);
  expect(error_of([&] { (*rnn)(Tensor::zeros({2, 5, 4})); }), {kind.c_str(), "[batch, steps, 3]", "f32[2, 5, 4]"});
  expect(error_of([&] { (*rnn)(Tensor::zeros({2, 5, 3}, DType::f64)); }), {kind.c_str(), "f64[2, 5, 3]", "f32"});
  expect(error_of([&] { (*rnn)(Tensor::zeros({2, 5, 3}), Tensor::ones({5, 2}, DType::boolean)); }),
         {kind.c_str(), "mask", "[2, 5]", "bool[5, 2]"});
  expect(error_of([&] { rnn->forward_with_state(Tensor::zeros({2, 5, 3}), {.h = Tensor::zeros({2, 4})}); }),
         {kind.c_str(), "initial h", "[1, 2, 4]"});
  expect(error_of([&] { (void)rnn->weights(1); }), {kind.c_str(), "layer 1"});
}

}  // namespace kiln::test
