// The LSTM language model: incremental state gives the full pass's logits,
// the tied head is the embedding, training lowers the loss, and generation
// runs through the IncrementalLm adapter.
#include <gtest/gtest.h>

#include "kiln/generate/generate.h"
#include "kiln/generate/lstm_lm_adapter.h"
#include "kiln/models/lstm_lm.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"

namespace kiln::models {
namespace {

LstmLmConfig small() { return {.vocab_size = 23, .embedding_dim = 12, .hidden_size = 12, .num_layers = 2}; }

TEST(LstmLm, IncrementalStateMatchesTheFullPass) {
  Generator gen(1);
  LstmLm model(small(), gen);
  model.eval();
  const std::vector<std::int64_t> ids{3, 7, 1, 19, 4, 4, 2};
  nn::RnnState whole_state;
  const Tensor whole = model.next_logits(Tensor::from_vector(ids, {1, 7}), whole_state);
  nn::RnnState state;
  Tensor last = model.next_logits(Tensor::from_vector(std::vector<std::int64_t>(ids.begin(), ids.begin() + 3), {1, 3}), state);
  for (std::size_t i = 3; i < ids.size(); ++i) {
    last = model.next_logits(Tensor::from_vector(std::vector<std::int64_t>{ids[i]}, {1, 1}), state);
  }
  EXPECT_LT(max(abs(sub(last, whole))).item(), 1e-5);
  EXPECT_LT(max(abs(sub(state.h, whole_state.h))).item(), 1e-6);
  // The tied head is the embedding itself; untied models get their own.
  EXPECT_EQ(model.head_weight().id(), model.named_parameters().front().second.id());
  LstmLmConfig untied = small();
  untied.tie_weights = false;
  untied.hidden_size = 16;
  LstmLm other(untied, gen);
  EXPECT_EQ(other.head_weight().shape(), (Shape{23, 16}));
  LstmLmConfig bad = small();
  bad.hidden_size = 16;  // tied needs equal sizes
  EXPECT_THROW(LstmLm(bad, gen), Error);
}

TEST(LstmLm, TrainingLowersTheLossOnARepeatingSequence) {
  Generator gen(2);
  LstmLm model(small(), gen);
  std::vector<std::int64_t> seq;
  for (int i = 0; i < 33; ++i) seq.push_back((i * 5) % 23);
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>(seq.begin(), seq.end() - 1), {1, 32});
  const Tensor targets = Tensor::from_vector(std::vector<std::int64_t>(seq.begin() + 1, seq.end()), {1, 32});
  optim::AdamW opt(model.parameters(), {.lr = 0.03, .weight_decay = 0.0});
  const double first = model.loss(ids, targets).item();
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    model.loss(ids, targets).backward();
    opt.step();
  }
  EXPECT_LT(model.loss(ids, targets).item(), 0.5 * first);
}

TEST(LstmLm, GreedyGenerationThroughTheAdapter) {
  Generator gen(3);
  LstmLm model(small(), gen);
  generate::LstmLmAdapter lm(model);
  const std::vector<std::int64_t> prompt{5, 6};
  const auto out = generate::generate(lm, prompt, {.max_new_tokens = 6}).tokens;
  ASSERT_EQ(out.size(), 6U);
  // Each token is the argmax of a full pass over the prompt and the tokens before it.
  std::vector<std::int64_t> seq = prompt;
  for (const std::int64_t t : out) {
    nn::RnnState s;
    const Tensor logits = model.next_logits(Tensor::from_vector(seq, {1, static_cast<std::int64_t>(seq.size())}), s);
    EXPECT_EQ(argmax(logits, -1).to_vector<std::int64_t>()[0], t);
    seq.push_back(t);
  }
  // Beam search reorders the (h, c) state rows like a KV cache.
  const auto beams = generate::beam_search(lm, prompt, {.num_beams = 3, .max_new_tokens = 4});
  EXPECT_EQ(beams.size(), 3U);
  EXPECT_EQ(generate::beam_search(lm, prompt, {.num_beams = 1, .max_new_tokens = 6})[0].tokens, out);
}

}  // namespace
}  // namespace kiln::models
