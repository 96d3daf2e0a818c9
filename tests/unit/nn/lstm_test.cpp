// nn::LSTM against PyTorch 1.13 (every LSTM case of rnn-expected.safetensors and
// the issue-3 fixture), and its behaviour as a Keras layer: padding, last-step
// output, masks, dropout kinds, Keras initialisation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/nn/embedding.h"
#include "kiln/nn/init.h"
#include "kiln/nn/lstm.h"
#include "kiln/nn/sequential.h"
#include "kiln/ops/ops.h"
#include "rnn_test_util.h"

namespace kiln {
namespace {

Tensor eye(std::int64_t n) {
  std::vector<double> v(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * n + i)] = 1.0;
  return Tensor::from_vector(v, {n, n});
}

std::unique_ptr<nn::Recurrent> make_lstm(const nn::RnnOptions& o, Generator& gen) {
  return std::make_unique<nn::LSTM>(o, gen);
}

// Binding check in f64 (from the f32 fixture values; measured ≤ 1e-15), and
// kiln's training precision f32, which also stays within 1e-5 (measured ≤ 3e-7).
TEST(Lstm, MatchesPyTorchOnEveryFixtureCaseInF64) {
  const auto [cases, worst] = test::replay_rnn_fixture("lstm", DType::f64, 1e-5);
  EXPECT_GT(cases, 0) << "no LSTM case in rnn-expected.safetensors";
  RecordProperty("worst_error", test::scientific(worst));
}

TEST(Lstm, MatchesPyTorchOnEveryFixtureCaseInF32) {
  const auto [cases, worst] = test::replay_rnn_fixture("lstm", DType::f32, 1e-5);
  EXPECT_GT(cases, 0);
  RecordProperty("worst_error", test::scientific(worst));
}

// The issue-3 fixture: torch.nn.LSTM(8 → 16, batch_first), loss sum(sin(y)).
void check_issue3_fixture(DType dtype) {
  const auto f = test::rnn_fixture("lstm-expected.safetensors");
  Generator gen(0);
  nn::LSTM lstm({.input_size = 8, .hidden_size = 16, .batch_first = true, .return_sequences = true, .dtype = dtype},
                gen);
  nn::StateDict state;
  for (const auto& [name, p] : lstm.named_parameters()) state.add(name, f.tensor("param." + name).to(dtype));
  lstm.load_state_dict(state);
  const Tensor x = test::fixture_leaf(f.tensor("x"), dtype);
  const nn::RnnOutput r = lstm.forward_with_state(x);
  sum(sin(r.output)).backward();
  const std::string what = std::string(" in ") + dtype_name(dtype);
  EXPECT_LE(test::fixture_error(r.output, f.tensor("y")), 1e-5) << "y" << what;
  EXPECT_LE(test::fixture_error(r.h_n, f.tensor("h_n")), 1e-5) << "h_n" << what;
  EXPECT_LE(test::fixture_error(r.c_n, f.tensor("c_n")), 1e-5) << "c_n" << what;
  EXPECT_LE(test::fixture_error(x.grad(), f.tensor("dx")), 1e-5) << "dx" << what;
  for (const auto& [name, p] : lstm.named_parameters()) {
    EXPECT_LE(test::fixture_error(p.grad(), f.tensor("grad." + name)), 1e-5) << name << what;
  }
  // Layer::forward with return_sequences is the same sequence.
  EXPECT_EQ(test::max_abs_diff(lstm(x), r.output), 0.0);
}

TEST(Lstm, RunsTheIssue3FixtureThroughTheModule) {
  check_issue3_fixture(DType::f64);
  check_issue3_fixture(DType::f32);
}

TEST(Lstm, ParametersHavePyTorchNamesShapesAndInit) { test::check_parameter_names(make_lstm, 4); }
TEST(Lstm, PaddedSequencesMatchTheirUnpaddedSelves) { test::check_padding_matches_truncation(make_lstm); }
TEST(Lstm, LastStepOutputIsKerasBidirectional) { test::check_last_step_output(make_lstm); }
TEST(Lstm, DropoutKindsActWhereTheirNamesSay) { test::check_dropout_semantics(make_lstm); }
TEST(Lstm, ErrorsNameTheLayerAndTheProblem) { test::check_errors(make_lstm, "LSTM"); }

// A Keras text classifier's front: Embedding(mask_zero) → LSTM in a Sequential.
// The padding mask reaches the LSTM, so trailing padding changes nothing.
TEST(Lstm, TakesTheEmbeddingMaskInASequential) {
  Generator gen(6);
  auto embedding = std::make_shared<nn::Embedding>(
      nn::EmbeddingOptions{.num_embeddings = 10, .embedding_dim = 4, .mask_zero = true}, gen);
  auto lstm = std::make_shared<nn::LSTM>(
      nn::LSTMOptions{.input_size = 4, .hidden_size = 3, .bidirectional = true, .batch_first = true}, gen);
  nn::Sequential model{embedding, lstm};
  const Tensor ids = Tensor::from_vector<std::int64_t>({3, 5, 2, 0, 0, 7, 1, 4, 9, 2}, {2, 5});
  const Tensor first = ids.slice(0, 0, 1);
  const Tensor padded = model(ids), alone = model(first.slice(1, 0, 3));
  ASSERT_EQ(padded.shape(), (Shape{2, 6}));
  EXPECT_LE(test::max_abs_diff(padded.slice(0, 0, 1), alone), 1e-6);
  // Without the mask the padding would have run through the LSTM.
  EXPECT_GT(test::max_abs_diff(lstm->forward(embedding->forward(first)), alone), 1e-3);
}

TEST(Lstm, KerasInitIsGlorotOrthogonalAndUnitForgetBias) {
  Generator gen(4);
  const std::int64_t H = 8, in = 5;
  nn::LSTM lstm({.input_size = in, .hidden_size = H, .init = nn::RnnInit::keras}, gen);
  const RnnWeights& w = lstm.weights(0);
  // Orthogonal [4H, H]: orthonormal columns, W_hhᵀ·W_hh = I.
  const Tensor gram = matmul(w.w_hh.detach().t(), w.w_hh.detach()).to(DType::f64);
  EXPECT_LE(test::max_abs_diff(gram, eye(H)), 1e-5);
  const double glorot = std::sqrt(6.0 / static_cast<double>(in + 4 * H));
  for (const double v : w.w_ih.to_vector<double>()) EXPECT_LE(std::fabs(v), glorot);
  const auto b_ih = w.b_ih.to_vector<double>(), b_hh = w.b_hh.to_vector<double>();
  for (std::int64_t i = 0; i < 4 * H; ++i) {
    EXPECT_EQ(b_ih[static_cast<std::size_t>(i)], i >= H && i < 2 * H ? 1.0 : 0.0) << "bias_ih " << i;
    EXPECT_EQ(b_hh[static_cast<std::size_t>(i)], 0.0) << "bias_hh " << i;
  }
  EXPECT_NE(lstm.name().find("init=keras"), std::string::npos) << lstm.name();
}

TEST(Lstm, OrthogonalInitGivesOrthonormalRowsOrColumns) {
  Generator gen(5);
  for (const Shape& shape : {Shape{12, 4}, Shape{3, 7}, Shape{6, 2, 3}}) {
    Tensor t = Tensor::empty(shape, DType::f64);
    nn::init::orthogonal_(t, gen, 2.0);
    const Tensor m = t.view({shape[0], t.numel() / shape[0]});
    const bool wide = m.size(0) < m.size(1);
    const Tensor gram = wide ? matmul(m, m.t()) : matmul(m.t(), m);
    const std::int64_t n = gram.size(0);
    EXPECT_LE(test::max_abs_diff(gram, mul(eye(n), 4.0)), 1e-12) << shape_str(shape);
  }
}

}  // namespace
}  // namespace kiln
