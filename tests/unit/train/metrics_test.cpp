// Metrics against values computed by hand, streaming against one-shot use, and
// the errors a user meets (empty input, labels out of range, shapes that do not fit).
#include "kiln/train/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kiln/ops/ops.h"

namespace kiln::train {
namespace {

using test::error_of;
using test::expect_contains;

Tensor labels(const std::vector<std::int64_t>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())});
}

// Logits [N, C] whose argmax is `predicted` (the rest of each row is small noise).
Tensor logits_predicting(const std::vector<std::int64_t>& predicted, std::int64_t classes) {
  Generator gen(7);
  const auto n = static_cast<std::int64_t>(predicted.size());
  std::vector<float> v = uniform({n, classes}, -0.5, 0.5, gen).to_vector<float>();
  for (std::size_t i = 0; i < predicted.size(); ++i) v[i * static_cast<std::size_t>(classes) + predicted[i]] = 2.0F;
  return Tensor::from_vector(v, {n, classes});
}

double value_of(const Metric& m, const std::string& key) {
  for (const auto& [name, value] : m.result()) {
    if (name == key) return value;
  }
  ADD_FAILURE() << m.name() << " has no result named " << key;
  return std::nan("");
}

// ---- accuracy ----------------------------------------------------------------------------------

TEST(Accuracy, ArgmaxOfLogitsAgainstIntegerOrFloatLabels) {
  const Tensor out = logits_predicting({0, 2, 1, 1, 0}, 3);
  EXPECT_DOUBLE_EQ(accuracy(out, labels({0, 2, 2, 1, 1})), 3.0 / 5);
  EXPECT_DOUBLE_EQ(accuracy(out, Tensor::from_vector<float>({0, 2, 2, 1, 1}, {5})), 3.0 / 5);  // Keras' float labels
  // Sequences: output [B, T, C] against targets [B, T].
  EXPECT_DOUBLE_EQ(
      accuracy(out.slice(0, 0, 4).reshape({2, 2, 3}), Tensor::from_vector<std::int64_t>({0, 2, 0, 0}, {2, 2})),
      2.0 / 4);
  // Predicted labels directly.
  EXPECT_DOUBLE_EQ(accuracy(labels({1, 1, 0}), labels({1, 0, 0})), 2.0 / 3);
}

TEST(Accuracy, BinaryThresholdOnOneColumn) {
  // 0.5 is not above the threshold: predicted 0.
  const Tensor probs = Tensor::from_vector<float>({0.2F, 0.7F, 0.5F, 0.9F}, {4});
  const Tensor y = labels({0, 1, 1, 0});
  EXPECT_DOUBLE_EQ(accuracy(probs, y), 0.5);
  EXPECT_DOUBLE_EQ(accuracy(probs.reshape({4, 1}), y), 0.5);
  EXPECT_DOUBLE_EQ(accuracy(probs.reshape({4, 1}), y.reshape({4, 1})), 0.5);
  // Logits: threshold 0.
  const Tensor z = Tensor::from_vector<float>({-1.0F, 0.3F, 0.2F, -0.1F}, {4});  // predicts 0 1 1 0
  EXPECT_DOUBLE_EQ(accuracy(z, y, {.threshold = 0.0}), 1.0);
  EXPECT_DOUBLE_EQ(accuracy(z, y), 0.5);  // at the default 0.5 every logit here predicts 0
}

TEST(TopKAccuracy, TiesAtTheBoundaryCountAsHits) {
  const Tensor out = Tensor::from_vector<float>({0.1F, 0.5F, 0.3F, 0.1F,  //
                                                 1.0F, 2.0F, 2.0F, 0.0F},
                                                {2, 4});
  EXPECT_DOUBLE_EQ(top_k_accuracy(out, labels({2, 1}), 1), 0.5);  // row 1: class 1 ties with class 2 at the top
  EXPECT_DOUBLE_EQ(top_k_accuracy(out, labels({2, 0}), 2), 0.5);  // row 1: two classes above class 0
  EXPECT_DOUBLE_EQ(top_k_accuracy(out, labels({2, 0}), 3), 1.0);
  EXPECT_DOUBLE_EQ(top_k_accuracy(out, labels({0, 3}), 4), 1.0);
  expect_contains(error_of([&] {
                    (void)top_k_accuracy(out, labels({0, 1}), 5);
                  }),
                  {"top_5_accuracy", "k = 5", "4 classes"});
}

// ---- confusion matrix, precision, recall, F1 ----------------------------------------------------------
// truth      0 0 0 0 1 1 2 2 2 2
// predicted  0 0 1 2 1 1 2 2 1 0        matrix (rows = truth): [[2,1,1], [0,2,0], [1,1,2]]
const std::vector<std::int64_t> kTruth{0, 0, 0, 0, 1, 1, 2, 2, 2, 2};
const std::vector<std::int64_t> kPredicted{0, 0, 1, 2, 1, 1, 2, 2, 1, 0};

TEST(ConfusionMatrix, CountsAndPerClassScoresByHand) {
  const ConfusionMatrix cm = confusion_matrix(logits_predicting(kPredicted, 3), labels(kTruth), 3);
  const std::vector<std::int64_t> expected{2, 1, 1, 0, 2, 0, 1, 1, 2};
  for (std::int64_t t = 0; t < 3; ++t) {
    for (std::int64_t p = 0; p < 3; ++p) EXPECT_EQ(cm.count(t, p), expected[static_cast<std::size_t>(t * 3 + p)]);
  }
  EXPECT_EQ(cm.total(), 10);
  // precision = tp / column sum, recall = tp / row sum, F1 = 2tp / (2tp + fp + fn).
  const double precision[] = {2.0 / 3, 2.0 / 4, 2.0 / 3}, recall[] = {2.0 / 4, 2.0 / 2, 2.0 / 4};
  const double f1[] = {4.0 / 7, 4.0 / 6, 4.0 / 7};
  const std::int64_t support[] = {4, 2, 4};
  for (std::int64_t c = 0; c < 3; ++c) {
    const ClassScores s = cm.scores(c);
    EXPECT_DOUBLE_EQ(s.precision, precision[c]) << c;
    EXPECT_DOUBLE_EQ(s.recall, recall[c]) << c;
    EXPECT_DOUBLE_EQ(s.f1, f1[c]) << c;
    EXPECT_EQ(s.support, support[c]) << c;
  }
}

TEST(ConfusionMatrix, MacroMicroAndWeightedAveragesByHand) {
  const ConfusionMatrix cm = confusion_matrix(labels(kPredicted), labels(kTruth), 3);
  const ClassScores macro = cm.average(Averaging::macro);
  EXPECT_DOUBLE_EQ(macro.precision, 11.0 / 18);  // (2/3 + 1/2 + 2/3) / 3
  EXPECT_DOUBLE_EQ(macro.recall, 2.0 / 3);       // (1/2 + 1 + 1/2) / 3
  EXPECT_DOUBLE_EQ(macro.f1, 38.0 / 63);         // (4/7 + 2/3 + 4/7) / 3: the mean of F1s, not F1 of the means
  const ClassScores micro = cm.average(Averaging::micro);
  EXPECT_DOUBLE_EQ(micro.precision, 0.6);
  EXPECT_DOUBLE_EQ(micro.recall, 0.6);
  EXPECT_DOUBLE_EQ(micro.f1, 0.6);
  const ClassScores weighted = cm.average(Averaging::weighted);
  EXPECT_DOUBLE_EQ(weighted.precision, 19.0 / 30);  // (4·2/3 + 2·1/2 + 4·2/3) / 10
  EXPECT_DOUBLE_EQ(weighted.recall, 0.6);
  EXPECT_DOUBLE_EQ(weighted.f1, 62.0 / 105);  // (4·4/7 + 2·2/3 + 4·4/7) / 10

  const ConfusionMatrix metric = confusion_matrix(labels(kPredicted), labels(kTruth), 3);
  EXPECT_DOUBLE_EQ(value_of(metric, "accuracy"), 0.6);
  EXPECT_DOUBLE_EQ(value_of(metric, "precision_1"), 0.5);
  EXPECT_DOUBLE_EQ(value_of(metric, "recall_1"), 1.0);
  EXPECT_DOUBLE_EQ(value_of(metric, "macro_f1"), 38.0 / 63);
  EXPECT_DOUBLE_EQ(value_of(metric, "weighted_precision"), 19.0 / 30);

  const ScoreOptions macro_options{.num_classes = 3, .average = Averaging::macro};
  EXPECT_DOUBLE_EQ(precision(labels(kPredicted), labels(kTruth), macro_options), 11.0 / 18);
  EXPECT_DOUBLE_EQ(recall(labels(kPredicted), labels(kTruth), macro_options), 2.0 / 3);
  EXPECT_DOUBLE_EQ(f1_score(labels(kPredicted), labels(kTruth), macro_options), 38.0 / 63);
}

TEST(ConfusionMatrix, ClassNeverPredictedHasPrecisionZero) {
  // Class 2 is in the targets but never predicted; class 3 is in neither and stays out of the macro mean.
  const ConfusionMatrix cm = confusion_matrix(labels({0, 1, 1, 0}), labels({0, 1, 2, 2}), 4);
  EXPECT_EQ(cm.scores(2).precision, 0.0);
  EXPECT_EQ(cm.scores(2).recall, 0.0);
  EXPECT_EQ(cm.scores(2).f1, 0.0);
  EXPECT_EQ(cm.scores(3).support, 0);
  // Precision: class 0 = 1/2, class 1 = 1/2, class 2 = 0 → macro over 3 classes = 1/3.
  EXPECT_DOUBLE_EQ(cm.average(Averaging::macro).precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(cm.average(Averaging::macro).recall, 2.0 / 3);  // (1 + 1 + 0) / 3
}

TEST(ConfusionMatrix, BinaryScoresAndBinaryAveraging) {
  // Probabilities > 0.5 predict 1: predicted 0 1 1 0 1 against 0 1 0 1 1.
  const Tensor p = Tensor::from_vector<float>({0.1F, 0.9F, 0.6F, 0.4F, 0.8F}, {5, 1});
  const Tensor y = labels({0, 1, 0, 1, 1});
  const ScoreOptions binary{.num_classes = 2, .average = Averaging::binary};
  EXPECT_DOUBLE_EQ(precision(p, y, binary), 2.0 / 3);  // tp 2, fp 1
  EXPECT_DOUBLE_EQ(recall(p, y, binary), 2.0 / 3);     // tp 2, fn 1
  EXPECT_DOUBLE_EQ(f1_score(p, y, binary), 2.0 / 3);
  EXPECT_DOUBLE_EQ(recall(p, y, {.num_classes = 2, .average = Averaging::micro}), 3.0 / 5);  // = accuracy
  // The streaming form names itself after its score.
  ClassificationScore metric({.score = ScoreKind::recall, .average = Averaging::binary});
  metric.update(p, y);
  EXPECT_DOUBLE_EQ(value_of(metric, "recall"), 2.0 / 3);
}

// ---- ROC AUC ---------------------------------------------------------------------------------------

TEST(RocAuc, KnownRankingsWithTiesCountingHalf) {
  // scikit-learn's doc example: 0.75.
  EXPECT_DOUBLE_EQ(roc_auc(Tensor::from_vector<double>({0.1, 0.4, 0.35, 0.8}, {4}), labels({0, 0, 1, 1})), 0.75);
  // Positives {0.5, 0.9}, negatives {0.5, 0.2}: pairs 0.5 (tie), 1, 1, 1 → 3.5 / 4.
  const Tensor scores = Tensor::from_vector<double>({0.5, 0.5, 0.2, 0.9}, {4});
  EXPECT_DOUBLE_EQ(roc_auc(scores, labels({1, 0, 0, 1})), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc(Tensor::full({5}, 0.3, DType::f64), labels({1, 0, 0, 1, 0})), 0.5);  // all tied
  EXPECT_DOUBLE_EQ(roc_auc(Tensor::from_vector<double>({3, 2, 1}, {3}), labels({0, 1, 1})), 0.0);
  // Two columns rank by column 1 - column 0 (logits of a 2-class softmax).
  const Tensor two = Tensor::from_vector<double>({0.0, 0.5, 0.0, 0.5, 0.0, 0.2, 0.0, 0.9}, {4, 2});
  EXPECT_DOUBLE_EQ(roc_auc(two, labels({1, 0, 0, 1})), 0.875);
  expect_contains(error_of([] { (void)roc_auc(Tensor::ones({3}), labels({1, 1, 1})); }), {"auc", "only class 1"});
  expect_contains(error_of([] { (void)roc_auc(Tensor::ones({2}), labels({1, 2})); }), {"auc", "target 2"});
  expect_contains(error_of([] {
                    (void)roc_auc(Tensor::from_vector<float>({0.1F, NAN}, {2}), labels({0, 1}));
                  }),
                  {"auc", "NaN"});
}

// ---- perplexity and means ------------------------------------------------------------------------------

TEST(Perplexity, ExpOfMeanTokenCrossEntropySkippingPadding) {
  // Uniform logits over 4 tokens: perplexity 4 exactly.
  EXPECT_NEAR(perplexity(Tensor::zeros({2, 3, 4}), Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 0, 1}, {2, 3})), 4.0,
              1e-6);
  // Logits [0, ln 3]: p(1) = 3/4, p(0) = 1/4 → mean NLL = (ln 4 - ln 3/4) / 2 = ln(16/3) / 2.
  const Tensor logits = Tensor::from_vector<double>({0, std::log(3.0), 0, std::log(3.0), 0, 5}, {3, 2});
  const Tensor ids = labels({1, 0, -100});
  EXPECT_NEAR(perplexity(logits, ids), std::sqrt(16.0 / 3), 1e-12);
  expect_contains(error_of([&] {
                    (void)perplexity(logits, labels({1, 2, 0}));
                  }),
                  {"perplexity", "target 2", "vocabulary of 2"});
  expect_contains(error_of([&] { (void)perplexity(logits, labels({-100, -100, -100})); }), {"perplexity", "no tokens"});
}

TEST(Mean, AveragesEveryValueAndWeightsBatchMeans) {
  Mean loss("loss");
  loss.update(Tensor::from_vector<float>({1.0F, 2.0F, 3.0F}, {3}), Tensor());
  loss.update(Tensor::from_vector<float>({6.0F}, {1}), Tensor());
  EXPECT_DOUBLE_EQ(value_of(loss, "loss"), 3.0);
  loss.add(1.0, 4);  // (12 + 4) / 8
  EXPECT_DOUBLE_EQ(value_of(loss, "loss"), 2.0);
  loss.reset();
  expect_contains(error_of([&] { (void)loss.result(); }), {"loss", "no samples"});
  expect_contains(error_of([&] { loss.add(1.0, 0); }), {"loss", "count"});
}

// ---- streaming == one-shot ----------------------------------------------------------------------------

TEST(Metrics, StreamingOverBatchesEqualsOneShotOverTheConcatenation) {
  Generator gen(11);
  const std::int64_t classes = 5;
  const Tensor out = randn({23, classes}, gen);
  std::vector<std::int64_t> y(23);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(gen.next_below(classes));
  y[4] = -100;  // padding, for perplexity only
  const Tensor target = labels(y);
  std::vector<std::int64_t> y_clean = y;
  y_clean[4] = 1;
  const Tensor clean = labels(y_clean);
  const Tensor binary_scores = rand({23}, gen);
  std::vector<std::int64_t> yb(23);
  for (std::size_t i = 0; i < yb.size(); ++i) yb[i] = static_cast<std::int64_t>(i % 3 == 0);
  const Tensor binary_target = labels(yb);

  struct Case {
    std::string spec;
    Tensor output, target;
  };
  const std::vector<Case> cases{{"accuracy", out, clean},
                                {"top_k_accuracy:2", out, clean},
                                {"macro_f1", out, clean},
                                {"weighted_precision", out, clean},
                                {"micro_recall", out, clean},
                                {"confusion_matrix", out, clean},
                                {"perplexity", out, target},
                                {"auc", binary_scores, binary_target},
                                {"precision", binary_scores, binary_target}};
  for (const Case& c : cases) {
    const auto streamed = make_metric(c.spec, c.spec == "auc" || c.spec == "precision" ? 2 : classes);
    const auto whole = make_metric(c.spec, c.spec == "auc" || c.spec == "precision" ? 2 : classes);
    for (const auto& [b, e] : {std::pair{0, 7}, std::pair{7, 8}, std::pair{8, 23}}) {
      streamed->update(c.output.slice(0, b, e), c.target.slice(0, b, e));
    }
    whole->update(c.output, c.target);
    const auto rs = streamed->result(), rw = whole->result();
    ASSERT_EQ(rs.size(), rw.size()) << c.spec;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      EXPECT_EQ(rs[i].first, rw[i].first) << c.spec;
      EXPECT_NEAR(rs[i].second, rw[i].second, 1e-12) << c.spec << " " << rs[i].first;
    }
    // reset() forgets the batches: one more update reproduces the one-shot value.
    streamed->reset();
    streamed->update(c.output, c.target);
    EXPECT_NEAR(streamed->result().front().second, rw.front().second, 1e-12) << c.spec << " after reset";
  }
}

// ---- by name ----------------------------------------------------------------------------------------

TEST(MakeMetric, NamesParametersAndErrors) {
  EXPECT_EQ(make_metric("accuracy", 10)->name(), "accuracy");
  EXPECT_EQ(make_metric("top_k_accuracy", 10)->name(), "top_5_accuracy");
  EXPECT_EQ(make_metric("top_k_accuracy:3", 10)->name(), "top_3_accuracy");
  EXPECT_EQ(make_metric("macro_f1", 10)->name(), "macro_f1");
  EXPECT_EQ(make_metric("weighted_recall", 10)->name(), "weighted_recall");
  EXPECT_EQ(make_metric("precision", 2)->name(), "precision");        // binary: class 1
  EXPECT_EQ(make_metric("precision", 4)->name(), "macro_precision");  // multi-class: macro
  EXPECT_EQ(make_metric("recall", 2)->name(), "recall");
  EXPECT_EQ(make_metric("auc", 2)->name(), "auc");
  EXPECT_EQ(make_metric("perplexity", 0)->name(), "perplexity");
  EXPECT_EQ(make_metric("loss", 0)->name(), "loss");
  EXPECT_EQ(make_metric("confusion_matrix", 3)->name(), "confusion_matrix");

  // "accuracy:0" thresholds logits at 0.
  const auto acc = make_metric("accuracy:0", 2);
  acc->update(Tensor::from_vector<float>({-1.0F, 0.3F}, {2}), labels({0, 1}));
  EXPECT_DOUBLE_EQ(value_of(*acc, "accuracy"), 1.0);

  expect_contains(error_of([] { (void)make_metric("f2", 3); }),
                  {"make_metric", "'f2'", "<macro|micro|weighted>_<precision|recall|f1>", "perplexity"});
  expect_contains(error_of([] { (void)make_metric("top_k_accuracy:x", 3); }), {"make_metric", "'x'"});
  expect_contains(error_of([] { (void)make_metric("top_k_accuracy:0", 3); }), {"top_k_accuracy", "at least 1"});
  expect_contains(error_of([] { (void)make_metric("macro_f1", 1); }), {"macro_f1", "num_classes"});
  expect_contains(error_of([] { (void)make_metric("auc", 3); }), {"auc", "binary"});
  expect_contains(error_of([] { (void)make_metric("perplexity:3", 0); }), {"perplexity", "no parameter"});
}

// ---- errors ---------------------------------------------------------------------------------------

TEST(Metrics, ErrorsNameTheMetricAndTheValue) {
  const Tensor out = Tensor::zeros({3, 4});
  expect_contains(error_of([&] { (void)accuracy(out, labels({0, 7, 1})); }), {"accuracy", "target 7", "4 classes"});
  expect_contains(error_of([&] { (void)accuracy(out, labels({0, -1, 1})); }), {"accuracy", "target -1"});
  expect_contains(error_of([&] {
                    (void)accuracy(out, Tensor::from_vector<float>({0, 0.5F, 1}, {3}));
                  }),
                  {"accuracy", "target 0.5", "whole number"});
  expect_contains(error_of([&] { (void)accuracy(Tensor::zeros({0, 4}), labels({})); }), {"accuracy", "empty batch"});
  expect_contains(error_of([&] {
                    (void)accuracy(out, labels({0, 1}));
                  }),
                  {"accuracy", "f32[3, 4]", "i64[2]", "[2] + [C]"});
  expect_contains(error_of([&] {
                    (void)accuracy(Tensor::ones({3}), labels({0, 2, 1}));
                  }),
                  {"accuracy", "binary target 2"});
  expect_contains(error_of([] { (void)Accuracy().result(); }), {"accuracy", "no samples"});
  expect_contains(error_of([&] {
                    (void)confusion_matrix(out, labels({0, 1, 2}), 3);
                  }),
                  {"confusion_matrix", "4 classes", "counts 3"});
  expect_contains(error_of([&] {
                    (void)confusion_matrix(labels({0, 5, 1}), labels({0, 1, 2}), 3);
                  }),
                  {"confusion_matrix", "predicted label 5"});
  expect_contains(error_of([] { (void)ConfusionMatrix(3).average(Averaging::macro); }),
                  {"confusion_matrix", "no samples"});
  expect_contains(error_of([&] {
                    (void)precision(out, labels({0, 1, 2}), {.num_classes = 4, .average = Averaging::binary});
                  }),
                  {"precision", "binary", "num_classes = 2", "4"});
  expect_contains(error_of([] { (void)ConfusionMatrix(3).count(0, 3); }), {"confusion_matrix", "predicted class 3"});
}

}  // namespace
}  // namespace kiln::train
