// BERT pretraining data: next-sentence pairs and 80/10/10 masking follow the
// paper's recipe, and the MLM + NSP loss trains a tiny BERT.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/train/bert_pretraining.h"

namespace kiln::train {
namespace {

const BertSpecialIds kSpecial{.cls = 1, .sep = 2, .pad = 0, .mask = 3};
constexpr std::int64_t kFirstNormal = 4, kVocab = 40;

// 6 documents of 5 sentences; sentence s of document d is [10 + d, 20 + s, 30 + s].
std::vector<std::vector<std::vector<std::int64_t>>> corpus() {
  std::vector<std::vector<std::vector<std::int64_t>>> docs(6);
  for (std::int64_t d = 0; d < 6; ++d) {
    for (std::int64_t s = 0; s < 5; ++s) docs[static_cast<std::size_t>(d)].push_back({10 + d, 20 + s, 30 + s});
  }
  return docs;
}

TEST(BertPretraining, PairsHaveTheLayoutAndHalfAreRandom) {
  const auto docs = corpus();
  Generator gen(1);
  int random = 0;
  for (int i = 0; i < 400; ++i) {
    const BertPair p = make_pair(docs, static_cast<std::size_t>(i % 6), 0, 12, kSpecial, gen);
    ASSERT_LE(p.ids.size(), 12U);
    EXPECT_EQ(p.ids.front(), kSpecial.cls);
    EXPECT_EQ(p.ids.back(), kSpecial.sep);
    const auto sep = std::find(p.ids.begin() + 1, p.ids.end(), kSpecial.sep) - p.ids.begin();
    for (std::size_t t = 0; t < p.ids.size(); ++t) EXPECT_EQ(p.token_types[t], static_cast<std::int64_t>(t) > sep ? 1 : 0);
    // B's document is A's exactly when B follows A.
    const std::int64_t a_doc = p.ids[1] - 10, b_doc = p.ids[static_cast<std::size_t>(sep) + 1] - 10;
    EXPECT_EQ(p.is_random_next == 0, a_doc == b_doc) << i;
    random += static_cast<int>(p.is_random_next);
  }
  EXPECT_NEAR(random / 400.0, 0.5, 0.08);
  EXPECT_THROW(make_pair(docs, 9, 0, 12, kSpecial, gen), Error);
  EXPECT_THROW(make_pair(docs, 0, 0, 4, kSpecial, gen), Error);
}

TEST(BertPretraining, MaskingIs15PercentSplit80_10_10) {
  const auto docs = corpus();
  Generator gen(2);
  std::vector<BertPair> pairs;
  for (int i = 0; i < 600; ++i) pairs.push_back(make_pair(docs, static_cast<std::size_t>(i % 6), 0, 32, kSpecial, gen));
  const MaskedBatch b = mask_batch(pairs, kVocab, kFirstNormal, kSpecial, gen);
  const auto ids = b.ids.to_vector<std::int64_t>(), labels = b.mlm_labels.to_vector<std::int64_t>();
  const auto attn = b.attention_mask.to_vector<std::int64_t>();
  std::int64_t normal = 0, chosen = 0, masked = 0, kept = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (attn[i] == 0) {
      EXPECT_EQ(ids[i], kSpecial.pad);
      EXPECT_EQ(labels[i], -100);
      continue;
    }
    if (labels[i] == -100) {
      normal += ids[i] >= kFirstNormal ? 1 : 0;
      continue;
    }
    ++chosen;
    ++normal;
    EXPECT_GE(labels[i], kFirstNormal);  // never a special token
    masked += ids[i] == kSpecial.mask ? 1 : 0;
    kept += ids[i] == labels[i] ? 1 : 0;
  }
  EXPECT_NEAR(static_cast<double>(chosen) / static_cast<double>(normal), 0.15, 0.02);
  EXPECT_NEAR(static_cast<double>(masked) / static_cast<double>(chosen), 0.8, 0.04);
  // Unchanged: 10 %, plus the random draws that hit the same id (1/36 of 10 %).
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(chosen), 0.1 + 0.1 / 36.0, 0.03);
}

TEST(BertPretraining, MlmAndNspLossesFall) {
  const auto docs = corpus();
  Generator gen(3);
  models::Bert model(models::BertConfig{.vocab_size = kVocab, .hidden_size = 32, .num_hidden_layers = 2,
                                        .num_attention_heads = 4, .intermediate_size = 64,
                                        .max_position_embeddings = 32, .hidden_dropout_prob = 0.0},
                     gen);
  optim::AdamW opt(model.parameters(), {.lr = 2e-3, .weight_decay = 0.0});
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 80; ++step) {
    std::vector<BertPair> pairs;
    for (int i = 0; i < 16; ++i) pairs.push_back(make_pair(docs, gen.next_below(6), gen.next_below(3), 16, kSpecial, gen));
    const MaskedBatch b = mask_batch(pairs, kVocab, kFirstNormal, kSpecial, gen);
    opt.zero_grad();
    const BertLoss loss = bert_pretraining_loss(model, b);
    if (step < 10) first += loss.total.item() / 10.0;
    if (step >= 70) last += loss.total.item() / 10.0;
    loss.total.backward();
    opt.step();
  }
  EXPECT_LT(last, 0.7 * first);
}

TEST(BertPretraining, MlmLossOverMaskedRowsEqualsTheFullIgnoreIndexLoss) {
  // The loss runs the MLM head on the labelled positions only; it must equal
  // Hugging Face's cross-entropy over all [B, T, V] logits with -100 ignored.
  const auto docs = corpus();
  Generator gen(4);
  models::Bert model(models::BertConfig{.vocab_size = kVocab, .hidden_size = 32, .num_hidden_layers = 2,
                                        .num_attention_heads = 4, .intermediate_size = 64,
                                        .max_position_embeddings = 32, .hidden_dropout_prob = 0.0},
                     gen);
  model.eval();
  std::vector<BertPair> pairs;
  for (int i = 0; i < 8; ++i) pairs.push_back(make_pair(docs, gen.next_below(6), gen.next_below(3), 16, kSpecial, gen));
  const MaskedBatch b = mask_batch(pairs, kVocab, kFirstNormal, kSpecial, gen);
  const BertLoss loss = bert_pretraining_loss(model, b);
  const models::BertOutputs out = model.encode(b.ids, b.token_types, b.attention_mask);
  const Tensor logits = model.mlm_logits(out.hidden);
  const std::int64_t rows = logits.size(0) * logits.size(1);
  const double full = cross_entropy(logits.reshape({rows, kVocab}), b.mlm_labels.reshape({rows}), -100).item();
  EXPECT_NEAR(loss.mlm.item(), full, 1e-5 * std::abs(full));
  std::int64_t labelled = 0;
  for (const std::int64_t l : b.mlm_labels.to_vector<std::int64_t>()) labelled += l != -100 ? 1 : 0;
  EXPECT_EQ(loss.mlm_logits.size(0), labelled);

  MaskedBatch none = b;
  none.mlm_labels = Tensor::full(b.mlm_labels.shape(), -100.0, DType::i64);
  EXPECT_THROW(bert_pretraining_loss(model, none), Error);
}

}  // namespace
}  // namespace kiln::train
