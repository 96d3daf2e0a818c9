// Transfer learning: a head on a GPT or BERT body, fine-tuned or with the body
// frozen; padding does not change a row's logits.
#include <gtest/gtest.h>

#include <memory>

#include "kiln/models/text_classifier.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"

namespace kiln::models {
namespace {

constexpr std::int64_t kVocab = 20, kLen = 8, kRows = 16;

// Rows of random tokens 1..19 of length 4..8, right-padded with 0; label 1 when token 7 appears.
struct ToyData {
  Tensor ids, mask, labels;
};
ToyData toy(std::uint64_t seed) {
  Generator g(seed);
  std::vector<std::int64_t> ids, mask, labels;
  for (std::int64_t r = 0; r < kRows; ++r) {
    const auto n = static_cast<std::int64_t>(4 + g.next_below(5));
    bool seven = false;
    for (std::int64_t t = 0; t < kLen; ++t) {
      const std::int64_t id = t < n ? static_cast<std::int64_t>(1 + g.next_below(kVocab - 1)) : 0;
      seven = seven || id == 7;
      ids.push_back(id);
      mask.push_back(t < n ? 1 : 0);
    }
    labels.push_back(seven ? 1 : 0);
  }
  return {Tensor::from_vector(ids, {kRows, kLen}), Tensor::from_vector(mask, {kRows, kLen}),
          Tensor::from_vector(labels, {kRows})};
}

std::vector<std::vector<float>> snapshot(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [name, p] : m.named_parameters()) out.push_back(p.detach().to_vector<float>());
  return out;
}

// Trains 25 AdamW steps on the toy data; returns (first loss, last loss).
std::pair<double, double> train(TextClassifier& clf) {
  const ToyData d = toy(5);
  clf.train();
  std::vector<Tensor> trainable;
  for (const Tensor& p : clf.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  optim::AdamW opt(trainable, {.lr = 5e-3, .weight_decay = 0.0});
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 25; ++step) {
    opt.zero_grad();
    const Tensor loss = cross_entropy(clf.forward(d.ids, d.mask), d.labels);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
  }
  return {first, last};
}

std::shared_ptr<Gpt> small_gpt(Generator& gen) {
  return std::make_shared<Gpt>(GptConfig{.vocab_size = kVocab, .n_positions = 16, .n_embd = 16, .n_layer = 2, .n_head = 2}, gen);
}
std::shared_ptr<Bert> small_bert(Generator& gen) {
  return std::make_shared<Bert>(BertConfig{.vocab_size = kVocab, .hidden_size = 16, .num_hidden_layers = 2,
                                           .num_attention_heads = 2, .intermediate_size = 32,
                                           .max_position_embeddings = 16, .hidden_dropout_prob = 0.0},
                                gen);
}

TEST(TextClassifier, FrozenBodyStaysPutWhileTheHeadLearns) {
  for (const bool use_bert : {false, true}) {
    Generator gen(1);
    auto clf = use_bert ? std::make_unique<TextClassifier>(small_bert(gen), 2, gen, 0.0)
                        : std::make_unique<TextClassifier>(small_gpt(gen), 2, gen, 0.0);
    clf->set_body_trainable(false);
    EXPECT_LT(clf->num_parameters(/*trainable_only=*/true), clf->num_parameters());
    std::vector<std::vector<float>> before;
    for (const auto& [name, p] : clf->named_parameters()) {
      if (name.starts_with("body.")) before.push_back(p.detach().to_vector<float>());
    }
    const auto [first, last] = train(*clf);
    EXPECT_LT(last, first) << (use_bert ? "BERT" : "GPT");
    std::size_t i = 0;
    for (const auto& [name, p] : clf->named_parameters()) {
      if (name.starts_with("body.")) {
        EXPECT_EQ(p.detach().to_vector<float>(), before[i++]) << name;
      }
    }
  }
}

TEST(TextClassifier, FullFineTuningMovesTheBodyAndFitsTheTask) {
  for (const bool use_bert : {false, true}) {
    Generator gen(2);
    auto clf = use_bert ? std::make_unique<TextClassifier>(small_bert(gen), 2, gen, 0.0)
                        : std::make_unique<TextClassifier>(small_gpt(gen), 2, gen, 0.0);
    const auto before = snapshot(*clf);
    const auto [first, last] = train(*clf);
    EXPECT_LT(last, 0.5 * first) << (use_bert ? "BERT" : "GPT");
    EXPECT_NE(snapshot(*clf).front(), before.front());  // the embedding moved
  }
}

TEST(TextClassifier, RightPaddingDoesNotChangeARowsLogits) {
  for (const bool use_bert : {false, true}) {
    Generator gen(3);
    auto clf = use_bert ? std::make_unique<TextClassifier>(small_bert(gen), 3, gen)
                        : std::make_unique<TextClassifier>(small_gpt(gen), 3, gen);
    clf->eval();
    NoGradGuard no_grad;
    const Tensor alone = clf->forward(Tensor::from_vector(std::vector<std::int64_t>{4, 9, 2}, {1, 3}));
    const Tensor padded = clf->forward(Tensor::from_vector(std::vector<std::int64_t>{4, 9, 2, 0, 0}, {1, 5}),
                                       Tensor::from_vector(std::vector<std::int64_t>{1, 1, 1, 0, 0}, {1, 5}));
    EXPECT_LT(max(abs(sub(alone, padded))).item(), 1e-5) << (use_bert ? "BERT" : "GPT");
  }
  Generator gen(4);
  EXPECT_THROW(TextClassifier(small_gpt(gen), 1, gen), Error);
}

}  // namespace
}  // namespace kiln::models
