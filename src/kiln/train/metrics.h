#pragma once
// Evaluation metrics, Keras-style: streaming accumulators a trainer updates
// per batch and reads at the end of an epoch, plus free functions for one-shot
// use. They compute on the host (outputs are copied to the CPU), which is
// fine at the rate metrics run and keeps every formula exact (counts, f64 sums).
//
// What a metric reads from (output, target):
//  - target: class labels, integer or floating holding whole numbers (Keras
//    passes float labels); any shape [...].
//  - output [..., C] (the target's shape plus a last dim of C ≥ 2): scores
//    (logits or probabilities); the prediction is the argmax (first on ties).
//  - output [..., 1], or floating output of the target's shape: one score per
//    sample of a binary task; the prediction is 1 where score > threshold
//    (0.5 for probabilities; use 0 for logits).
//  - integer output of the target's shape: the predicted labels themselves.
// Every metric rejects an empty batch, shapes that do not fit, and labels out
// of range, naming the metric and the value; result() before any update() is
// an error too.
//
//   auto metric = make_metric("macro_f1", 10);
//   for (auto& [x, y] : batches) metric->update(model.forward(x), y);
//   for (auto& [name, value] : metric->result()) std::cout << name << " " << value << "\n";
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::train {

/// A streaming metric: update() per batch, result() at the end, reset() between epochs.
/// Updating over several batches gives exactly what one update over their concatenation gives.
class Metric {
 public:
  virtual ~Metric() = default;
  /// Accumulates one batch (see the top of this header for the shapes).
  virtual void update(const Tensor& output, const Tensor& target) = 0;
  /// Named values, e.g. {{"accuracy", 0.93}}; throws when nothing was accumulated.
  virtual std::vector<std::pair<std::string, double>> result() const = 0;
  /// Forgets everything accumulated.
  virtual void reset() = 0;
  /// The name of the metric (and of its first result), e.g. "top_5_accuracy".
  virtual std::string name() const = 0;
};

// ---- accuracy -------------------------------------------------------------------------

struct AccuracyOptions {
  /// For binary outputs (one score per sample): predicted 1 where score > threshold.
  double threshold = 0.5;
};

/// Fraction of samples whose predicted label equals the target (Keras'
/// accuracy / sparse_categorical_accuracy / binary_accuracy by output shape).
class Accuracy final : public Metric {
 public:
  explicit Accuracy(const AccuracyOptions& options = {});
  void update(const Tensor& output, const Tensor& target) override;
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return "accuracy"; }

 private:
  AccuracyOptions options_;
  std::int64_t correct_ = 0;
  std::int64_t seen_ = 0;
};

/// Fraction of samples whose target is among the k highest of C scores
/// (output [..., C]). Ties at the boundary count in the sample's favour, as
/// TensorFlow's in_top_k: correct when fewer than k classes score strictly
/// higher than the target. k > C is an error.
class TopKAccuracy final : public Metric {
 public:
  explicit TopKAccuracy(std::int64_t k);
  void update(const Tensor& output, const Tensor& target) override;
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return "top_" + std::to_string(k_) + "_accuracy"; }

 private:
  std::int64_t k_;
  std::int64_t correct_ = 0;
  std::int64_t seen_ = 0;
};

// ---- confusion matrix, precision, recall, F1 -----------------------------------------------

/// Precision, recall and F1 of one class, and its support (how many targets are that class).
/// A class never predicted has precision 0, and one never in the targets recall 0
/// (scikit-learn's zero_division=0); F1 = 2·tp / (2·tp + fp + fn), 0 when that is 0/0.
struct ClassScores {
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  std::int64_t support = 0;
};

/// How per-class scores combine into one number, as scikit-learn's `average=`.
///  - binary:   the scores of class 1 (the positive class); needs 2 classes.
///  - macro:    the unweighted mean over the classes that occur in the targets or
///              the predictions (scikit-learn's default label set; a class seen in
///              neither has no defined score and does not dilute the mean).
///  - micro:    from the total true/false positives over all classes; for
///              single-label data precision = recall = F1 = accuracy.
///  - weighted: the mean weighted by each class's support.
enum class Averaging : std::uint8_t { binary, macro, micro, weighted };

/// Counts of (true class, predicted class) pairs over `num_classes` classes:
/// rows are the true class, columns the prediction. result() reports accuracy,
/// every class's precision/recall/F1 (precision_0, recall_0, f1_0, ...) and the
/// macro, micro and weighted averages (macro_precision, ..., weighted_f1).
class ConfusionMatrix final : public Metric {
 public:
  /// `threshold` is used for binary outputs (one score per sample); num_classes ≥ 2.
  explicit ConfusionMatrix(std::int64_t num_classes, double threshold = 0.5);
  void update(const Tensor& output, const Tensor& target) override;
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return "confusion_matrix"; }

  std::int64_t num_classes() const { return classes_; }
  /// How many samples of class `true_class` were predicted as `predicted`.
  std::int64_t count(std::int64_t true_class, std::int64_t predicted) const;
  /// All samples counted so far.
  std::int64_t total() const { return total_; }
  /// Precision, recall, F1 and support of one class.
  ClassScores scores(std::int64_t cls) const;
  /// The scores averaged over classes; `support` is the total sample count.
  ClassScores average(Averaging averaging) const;

 private:
  void check_class(std::int64_t cls, const char* role) const;
  void check_nonempty() const;

  std::int64_t classes_;
  double threshold_;
  std::vector<std::int64_t> counts_;  // row-major [classes_, classes_]
  std::int64_t total_ = 0;
};

/// Which of precision, recall or F1 a ClassificationScore reports.
enum class ScoreKind : std::uint8_t { precision, recall, f1 };

struct ClassificationScoreOptions {
  ScoreKind score = ScoreKind::f1;
  Averaging average = Averaging::macro;
  std::int64_t num_classes = 2;
  double threshold = 0.5;  ///< for binary outputs (one score per sample)
};

/// One averaged precision, recall or F1, e.g. "macro_f1", or "precision" (binary).
class ClassificationScore final : public Metric {
 public:
  explicit ClassificationScore(const ClassificationScoreOptions& options);
  void update(const Tensor& output, const Tensor& target) override { matrix_.update(output, target); }
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override { matrix_.reset(); }
  std::string name() const override;

 private:
  ClassificationScoreOptions options_;
  ConfusionMatrix matrix_;
};

// ---- ranking ---------------------------------------------------------------------------------

/// Area under the ROC curve of a binary task, exact: the Mann–Whitney
/// statistic P(score of a random positive > score of a random negative), with
/// tied pairs counting ½ (average ranks). Scores are output [N] or [N, 1]; for
/// [N, 2] the score is output[:, 1] - output[:, 0], which ranks samples like the
/// positive class's probability whether the columns are logits, log-probabilities
/// or probabilities. Targets are 0/1. result() needs both classes present; a NaN
/// score is an error.
class RocAuc final : public Metric {
 public:
  void update(const Tensor& output, const Tensor& target) override;
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return "auc"; }

 private:
  std::vector<double> scores_;
  std::vector<bool> positive_;
};

// ---- language models and losses -----------------------------------------------------------------

/// exp(mean token cross-entropy): logits [..., V] (vocabulary last), token ids
/// [...]; ids equal to ignore_index (padding) are neither scored nor counted.
/// Accumulates the total negative log-likelihood (in f64) and the token count.
class Perplexity final : public Metric {
 public:
  explicit Perplexity(std::int64_t ignore_index = -100) : ignore_index_(ignore_index) {}
  void update(const Tensor& output, const Tensor& target) override;
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return "perplexity"; }

 private:
  std::int64_t ignore_index_;
  double total_nll_ = 0.0;
  std::int64_t tokens_ = 0;
};

/// The mean of values over everything seen, e.g. a loss: update(values, ignored)
/// adds every element of `values` (pass per-sample losses, Reduction::none, so
/// batches of different sizes weigh by their samples); add() takes a batch's
/// mean and its sample count instead.
class Mean final : public Metric {
 public:
  explicit Mean(std::string name = "mean") : name_(std::move(name)) {}
  /// `target` is not read (and may be undefined).
  void update(const Tensor& values, const Tensor& target) override;
  /// Adds `count` samples whose mean is `batch_mean`.
  void add(double batch_mean, std::int64_t count = 1);
  std::vector<std::pair<std::string, double>> result() const override;
  void reset() override;
  std::string name() const override { return name_; }

 private:
  std::string name_;
  double sum_ = 0.0;
  std::int64_t count_ = 0;
};

// ---- one-shot functions -------------------------------------------------------------------------

double accuracy(const Tensor& output, const Tensor& target, const AccuracyOptions& options = {});
double top_k_accuracy(const Tensor& output, const Tensor& target, std::int64_t k);
ConfusionMatrix confusion_matrix(const Tensor& output, const Tensor& target, std::int64_t num_classes,
                                 double threshold = 0.5);

struct ScoreOptions {
  std::int64_t num_classes = 2;
  Averaging average = Averaging::macro;
  double threshold = 0.5;  ///< for binary outputs (one score per sample)
};
double precision(const Tensor& output, const Tensor& target, const ScoreOptions& options);
double recall(const Tensor& output, const Tensor& target, const ScoreOptions& options);
double f1_score(const Tensor& output, const Tensor& target, const ScoreOptions& options);
double roc_auc(const Tensor& output, const Tensor& target);
double perplexity(const Tensor& logits, const Tensor& target, std::int64_t ignore_index = -100);

// ---- by name ------------------------------------------------------------------------------------

/// A metric from a config string:
///   "accuracy" | "accuracy:<threshold>"      Accuracy (threshold for binary outputs, default 0.5)
///   "top_k_accuracy" | "top_k_accuracy:<k>"  TopKAccuracy, k = 5 by default
///   "precision" | "recall" | "f1"            binary (class 1) when num_classes is 2, else macro
///   "macro_f1", "micro_precision", "weighted_recall", ...   <macro|micro|weighted>_<precision|recall|f1>
///   "auc" | "roc_auc"                        RocAuc (binary tasks: num_classes ≤ 2)
///   "perplexity"                             Perplexity (ignore_index -100)
///   "confusion_matrix"                       ConfusionMatrix
///   "mean" | "loss"                          Mean, named as given
/// num_classes is required (≥ 2) by the confusion-matrix family and ignored otherwise.
/// Unknown names and bad parameters throw, listing what is accepted.
std::unique_ptr<Metric> make_metric(std::string_view spec, std::int64_t num_classes);

}  // namespace kiln::train
