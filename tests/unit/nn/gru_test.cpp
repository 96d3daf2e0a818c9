// nn::GRU against PyTorch 1.13 (every GRU case of rnn-expected.safetensors), and
// its behaviour as a Keras layer: padding, last-step output, masks, dropout kinds.
#include <gtest/gtest.h>

#include "kiln/nn/gru.h"
#include "kiln/ops/ops.h"
#include "rnn_test_util.h"

namespace kiln {
namespace {

std::unique_ptr<nn::Recurrent> make_gru(const nn::RnnOptions& o, Generator& gen) {
  return std::make_unique<nn::GRU>(o, gen);
}

// Binding check in f64 (from the f32 fixture values; measured ≤ 1e-15), and
// kiln's training precision f32, which also stays within 1e-5 (measured ≤ 3e-7).
TEST(Gru, MatchesPyTorchOnEveryFixtureCaseInF64) {
  const auto [cases, worst] = test::replay_rnn_fixture("gru", DType::f64, 1e-5);
  EXPECT_GT(cases, 0) << "no GRU case in rnn-expected.safetensors";
  RecordProperty("worst_error", test::scientific(worst));
}

TEST(Gru, MatchesPyTorchOnEveryFixtureCaseInF32) {
  const auto [cases, worst] = test::replay_rnn_fixture("gru", DType::f32, 1e-5);
  EXPECT_GT(cases, 0);
  RecordProperty("worst_error", test::scientific(worst));
}

TEST(Gru, ParametersHavePyTorchNamesShapesAndInit) { test::check_parameter_names(make_gru, 3); }
TEST(Gru, PaddedSequencesMatchTheirUnpaddedSelves) { test::check_padding_matches_truncation(make_gru); }
TEST(Gru, LastStepOutputIsKerasBidirectional) { test::check_last_step_output(make_gru); }
TEST(Gru, DropoutKindsActWhereTheirNamesSay) { test::check_dropout_semantics(make_gru); }
TEST(Gru, ErrorsNameTheLayerAndTheProblem) { test::check_errors(make_gru, "GRU"); }

TEST(Gru, HasNoCellState) {
  Generator gen(2);
  nn::GRU gru({.input_size = 3, .hidden_size = 4}, gen);
  const Tensor x = Tensor::zeros({5, 2, 3});
  const nn::RnnOutput r = gru.forward_with_state(x);
  EXPECT_FALSE(r.c_n.defined());
  EXPECT_EQ(r.h_n.shape(), (Shape{1, 2, 4}));
  try {
    gru.forward_with_state(x, {.c = Tensor::zeros({1, 2, 4})});
    ADD_FAILURE() << "expected a kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no cell state"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
