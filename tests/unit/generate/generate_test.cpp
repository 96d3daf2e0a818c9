// Decoding over a tiny random GPT: greedy equals the full-forward argmax,
// sampling is reproducible by seed and respects top-k / top-p, beam search
// with width 1 is greedy and with enough width equals an exhaustive search.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "kiln/core/rng.h"
#include "kiln/generate/generate.h"
#include "kiln/generate/gpt_lm.h"
#include "kiln/ops/ops.h"

namespace kiln::generate {
namespace {

models::GptConfig config(std::int64_t vocab, std::int64_t context = 32) {
  return models::GptConfig{.vocab_size = vocab, .n_positions = context, .n_embd = 16, .n_layer = 2, .n_head = 2};
}

// log p(continuation | prompt) token by token from full forward passes (no cache).
std::vector<double> full_logprobs(models::Gpt& model, const std::vector<std::int64_t>& prompt,
                                  const std::vector<std::int64_t>& continuation) {
  NoGradGuard no_grad;
  std::vector<std::int64_t> seq = prompt;
  seq.insert(seq.end(), continuation.begin(), continuation.end());
  const auto n = static_cast<std::int64_t>(seq.size());
  const Tensor lp = log_softmax(model.logits(Tensor::from_vector(seq, {1, n})), -1);  // [1, n, V]
  std::vector<double> out;
  for (std::size_t i = 0; i < continuation.size(); ++i) {
    const auto pos = static_cast<std::int64_t>(prompt.size() + i) - 1;
    out.push_back(lp.slice(1, pos, pos + 1).view({-1}).to_vector<float>()[static_cast<std::size_t>(continuation[i])]);
  }
  return out;
}

TEST(Generate, GreedyFollowsTheFullForwardArgmax) {
  Generator gen(21);
  models::Gpt model(config(29), gen);
  GptLm lm(model);
  const std::vector<std::int64_t> prompt{3, 14, 15};
  std::vector<std::int64_t> streamed;
  const GenerationResult r = generate(lm, prompt, {.max_new_tokens = 10}, [&](std::int64_t t) {
    streamed.push_back(t);
    return true;
  });
  ASSERT_EQ(r.tokens.size(), 10U);
  EXPECT_EQ(r.finish, FinishReason::length);
  EXPECT_EQ(streamed, r.tokens);  // every token reached the callback as it was made
  const Tensor old = models::generate_greedy(model, Tensor::from_vector(prompt, {1, 3}), 10);
  const std::vector<std::int64_t> old_ids = old.to_vector<std::int64_t>();
  EXPECT_EQ(std::vector<std::int64_t>(old_ids.begin() + 3, old_ids.end()), r.tokens);
}

TEST(Generate, StopsOnEosStopSequenceCallbackAndContext) {
  Generator gen(22);
  models::Gpt model(config(29, 8), gen);
  GptLm lm(model);
  const std::vector<std::int64_t> prompt{1, 2};
  const GenerationResult free_run = generate(lm, prompt, {.max_new_tokens = 4});
  ASSERT_EQ(free_run.tokens.size(), 4U);
  const auto& f = free_run.tokens;
  // eos = the second token: decoding stops at its first occurrence (greedy may repeat a token).
  const auto first_eos = static_cast<std::size_t>(std::find(f.begin(), f.end(), f[1]) - f.begin()) + 1;
  GenerationResult r = generate(lm, prompt, {.max_new_tokens = 4, .eos_token_id = f[1]});
  EXPECT_EQ(r.finish, FinishReason::eos);
  EXPECT_EQ(r.tokens, std::vector<std::int64_t>(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(first_eos)));
  // The pair (f[1], f[2]) first ends at token 3, or at 2 when f[0] = f[1] = f[2].
  const std::size_t first_stop = (f[0] == f[1] && f[1] == f[2]) ? 2 : 3;
  r = generate(lm, prompt, {.max_new_tokens = 4, .stop_sequences = {{f[1], f[2]}}});
  EXPECT_EQ(r.finish, FinishReason::stop_sequence);
  EXPECT_EQ(r.tokens.size(), first_stop);
  int calls = 0;
  r = generate(lm, prompt, {.max_new_tokens = 4}, [&](std::int64_t) { return ++calls < 2; });
  EXPECT_EQ(r.finish, FinishReason::callback);
  EXPECT_EQ(r.tokens.size(), 2U);
  r = generate(lm, prompt, {.max_new_tokens = 100});  // context 8: 2 prompt + 7 fed + the last one chosen
  EXPECT_EQ(r.finish, FinishReason::context);
  EXPECT_EQ(r.tokens.size(), 7U);
}

TEST(Generate, BadPromptsAndOptionsNameTheProblem) {
  Generator gen(23);
  models::Gpt model(config(29, 8), gen);
  GptLm lm(model);
  const auto message = [&](const std::vector<std::int64_t>& prompt, const GenerationOptions& o) {
    try {
      generate(lm, prompt, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({}, {}).find("prompt is empty"), std::string::npos);
  EXPECT_NE(message(std::vector<std::int64_t>(9, 1), {}).find("above the model's context of 8"), std::string::npos);
  EXPECT_NE(message({1, 29}, {}).find("id 29, outside the vocabulary of 29"), std::string::npos);
  EXPECT_NE(message({1}, {.temperature = -1}).find("temperature"), std::string::npos);
  EXPECT_NE(message({1}, {.top_p = 0}).find("top_p"), std::string::npos);
  EXPECT_NE(message({1}, {.repetition_penalty = 0}).find("repetition_penalty"), std::string::npos);
}

TEST(Generate, SamplingIsReproducibleBySeedAndTopKOneIsGreedy) {
  Generator gen(24);
  models::Gpt model(config(29), gen);
  GptLm lm(model);
  const std::vector<std::int64_t> prompt{4, 5};
  const GenerationOptions o{.max_new_tokens = 12, .temperature = 1.5, .seed = 7};
  const auto a = generate(lm, prompt, o).tokens, b = generate(lm, prompt, o).tokens;
  EXPECT_EQ(a, b);
  GenerationOptions other = o;
  other.seed = 8;
  EXPECT_NE(generate(lm, prompt, other).tokens, a);  // 12 draws at temperature 1.5 over 29 tokens
  GenerationOptions top1 = o;
  top1.top_k = 1;
  EXPECT_EQ(generate(lm, prompt, top1).tokens, generate(lm, prompt, {.max_new_tokens = 12}).tokens);
}

TEST(LogitsProcessing, TopKTopPTemperatureAndRepetitionPenalty) {
  const std::vector<float> logits{2.0F, 1.0F, 0.0F, -1.0F};
  // Temperature: softmax(logits / T).
  std::vector<double> p = sampling_distribution(logits, {.temperature = 2.0});
  double z = 0.0;
  for (const float l : logits) z += std::exp(l / 2.0);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(p[i], std::exp(logits[i] / 2.0) / z, 1e-12);
  // Top-k 2: the two largest, renormalised.
  p = sampling_distribution(logits, {.top_k = 2});
  EXPECT_NEAR(p[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-12);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_EQ(p[3], 0.0);
  // Top-p: probabilities are .644, .237, .087, .032; p = 0.85 keeps the first two
  // (.881 >= .85), p = 0.5 keeps only the first, p = 0.9 three.
  EXPECT_EQ(std::count_if(p.begin(), p.end(), [](double v) { return v > 0; }), 2);
  p = sampling_distribution(logits, {.top_p = 0.85});
  EXPECT_EQ(std::count_if(p.begin(), p.end(), [](double v) { return v > 0; }), 2);
  p = sampling_distribution(logits, {.top_p = 0.5});
  EXPECT_EQ(p[0], 1.0);
  p = sampling_distribution(logits, {.top_p = 0.9});
  EXPECT_EQ(std::count_if(p.begin(), p.end(), [](double v) { return v > 0; }), 3);
  // Repetition penalty: positive logits divided, negative multiplied, each id once.
  std::vector<float> l = logits;
  apply_repetition_penalty(l, std::vector<std::int64_t>{0, 3, 0}, 2.0);
  EXPECT_EQ(l, (std::vector<float>{1.0F, 1.0F, 0.0F, -2.0F}));
  // A draw lands where the uniform falls in the cumulative distribution.
  Generator g(5);
  std::vector<int> counts(4, 0);
  const std::vector<double> q{0.5, 0.0, 0.25, 0.25};
  for (int i = 0; i < 4000; ++i) ++counts[static_cast<std::size_t>(draw_token(q, g))];
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5, 0.05);
  EXPECT_NEAR(counts[2] / 4000.0, 0.25, 0.05);
}

TEST(BeamSearch, WidthOneIsGreedy) {
  Generator gen(25);
  models::Gpt model(config(31), gen);
  GptLm lm(model);
  const std::vector<std::int64_t> prompt{9, 8, 7};
  const auto greedy = generate(lm, prompt, {.max_new_tokens = 8}).tokens;
  const auto beams = beam_search(lm, prompt, {.num_beams = 1, .max_new_tokens = 8});
  ASSERT_EQ(beams.size(), 1U);
  EXPECT_EQ(beams[0].tokens, greedy);
}

// Every sequence of up to max_new tokens (ending in eos, or reaching max_new
// without eos), scored from full forward passes, best first.
std::vector<Hypothesis> exhaustive(models::Gpt& model, const std::vector<std::int64_t>& prompt, std::int64_t vocab,
                                   std::int64_t max_new, std::int64_t eos, double length_penalty) {
  std::vector<Hypothesis> all;
  std::vector<std::int64_t> seq;
  const std::function<void()> grow = [&] {
    for (std::int64_t tok = 0; tok < vocab; ++tok) {
      seq.push_back(tok);
      const bool done = tok == eos || static_cast<std::int64_t>(seq.size()) == max_new;
      if (done) {
        double sum = 0.0;
        for (const double v : full_logprobs(model, prompt, seq)) sum += v;
        all.push_back({seq, sum, sum / std::pow(static_cast<double>(seq.size()), length_penalty)});
      } else {
        grow();
      }
      seq.pop_back();
    }
  };
  grow();
  std::sort(all.begin(), all.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  return all;
}

TEST(BeamSearch, WideEnoughBeamEqualsExhaustiveSearch) {
  // vocab 5 with eos = 4, 3 new tokens: at most 4² = 16 live prefixes, so 16
  // beams keep every one and the k best finished sequences must be the k best
  // of all sequences, for each length penalty.
  constexpr std::int64_t V = 5, eos = 4, max_new = 3, k = 16;
  Generator gen(26);
  models::Gpt model(config(V), gen);
  GptLm lm(model);
  const std::vector<std::int64_t> prompt{1, 3};
  for (const double lp : {1.0, 0.0, -0.5, 2.0}) {
    const auto want = exhaustive(model, prompt, V, max_new, eos, lp);
    const auto got = beam_search(lm, prompt,
                                 {.num_beams = k, .max_new_tokens = max_new, .length_penalty = lp, .eos_token_id = eos});
    ASSERT_EQ(got.size(), static_cast<std::size_t>(k)) << "length_penalty " << lp;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "rank " << i << ", length_penalty " << lp;
      EXPECT_NEAR(got[i].score, want[i].score, 1e-4) << "rank " << i << ", length_penalty " << lp;
    }
  }
}

TEST(BeamSearch, NarrowBeamReturnsItsBestInScoreOrder) {
  Generator gen(27);
  models::Gpt model(config(23), gen);
  GptLm lm(model);
  const auto hyps = beam_search(lm, {2, 5}, {.num_beams = 3, .max_new_tokens = 6, .length_penalty = 1.0, .eos_token_id = 0});
  ASSERT_FALSE(hyps.empty());
  for (std::size_t i = 1; i < hyps.size(); ++i) EXPECT_GE(hyps[i - 1].score, hyps[i].score);
  for (const Hypothesis& h : hyps) {  // the reported sums are the model's own log-probabilities
    double sum = 0.0;
    for (const double v : full_logprobs(model, {2, 5}, h.tokens)) sum += v;
    EXPECT_NEAR(h.sum_logprob, sum, 1e-4);
  }
  EXPECT_THROW(beam_search(lm, {2, 5}, {.num_beams = 0}), Error);
}

}  // namespace
}  // namespace kiln::generate
