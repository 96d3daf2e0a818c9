#include "kiln/train/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <optional>
#include <sstream>

#include "kiln/autograd/node.h"
#include "kiln/ops/ops.h"

namespace kiln::train {

namespace {

[[noreturn]] void fail(std::string_view metric, const std::string& what) {
  throw Error(std::string(metric) + ": " + what);
}

std::string number_str(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_batch(const Tensor& output, const Tensor& target, std::string_view metric) {
  if (!output.defined()) fail(metric, "output is undefined");
  if (!target.defined()) fail(metric, "target is undefined");
  if (output.numel() == 0 || target.numel() == 0) {
    fail(metric, "empty batch (output " + output.str() + ", target " + target.str() + ")");
  }
}

// Class labels as integers; floating labels must be whole numbers (Keras passes float labels).
std::vector<std::int64_t> target_labels(const Tensor& target, std::string_view metric) {
  if (!is_floating(target.dtype())) return target.to_vector<std::int64_t>();
  const std::vector<double> values = target.to_vector<double>();
  std::vector<std::int64_t> labels(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!(std::isfinite(v) && v == std::floor(v))) {
      fail(metric, "target " + number_str(v) + " is not a class label (a whole number)");
    }
    labels[i] = static_cast<std::int64_t>(v);
  }
  return labels;
}

// Throws naming the first label outside [0, classes); classes = 0 checks only the sign.
void check_labels(const std::vector<std::int64_t>& labels, std::int64_t classes, std::string_view metric,
                  const char* role) {
  for (const std::int64_t v : labels) {
    if (v < 0 && classes == 0) fail(metric, std::string(role) + " " + std::to_string(v) + " is negative");
    if (v < 0 || (classes > 0 && v >= classes)) {
      fail(metric, std::string(role) + " " + std::to_string(v) + " is out of range for " + std::to_string(classes) +
                       " classes");
    }
  }
}

bool leading_shape_matches(const Tensor& output, const Tensor& target) {
  if (output.dim() != target.dim() + 1) return false;
  return std::equal(target.shape().begin(), target.shape().end(), output.shape().begin());
}

// How an output encodes its predictions (metrics.h, top of file).
enum class OutputKind : std::uint8_t { labels, binary_scores, class_scores };

OutputKind output_kind(const Tensor& output, const Tensor& target, std::string_view metric) {
  if (output.shape() == target.shape()) {
    return is_floating(output.dtype()) ? OutputKind::binary_scores : OutputKind::labels;
  }
  if (leading_shape_matches(output, target) && is_floating(output.dtype())) {
    return output.shape().back() == 1 ? OutputKind::binary_scores : OutputKind::class_scores;
  }
  fail(metric, "output " + output.str() + " does not fit target " + target.str() + ": expected class scores " +
                   shape_str(target.shape()) + " + [C], or one score or label per target");
}

struct Prediction {
  std::vector<std::int64_t> predicted;
  std::vector<std::int64_t> truth;
  OutputKind kind = OutputKind::labels;
  std::int64_t classes = 0;  // C for class scores, 2 for binary scores, unknown (0) for labels
};

// Predicted and true labels of a batch, checked: targets must be labels the output can predict.
Prediction predict(const Tensor& output, const Tensor& target, double threshold, std::string_view metric) {
  check_batch(output, target, metric);
  Prediction p;
  p.kind = output_kind(output, target, metric);
  p.truth = target_labels(target, metric);
  NoGradGuard no_grad;
  switch (p.kind) {
    case OutputKind::labels:
      p.predicted = output.to_vector<std::int64_t>();
      check_labels(p.truth, 0, metric, "target");
      check_labels(p.predicted, 0, metric, "predicted label");
      break;
    case OutputKind::binary_scores: {
      p.classes = 2;
      const std::vector<double> scores = output.to_vector<double>();
      p.predicted.resize(scores.size());
      for (std::size_t i = 0; i < scores.size(); ++i) p.predicted[i] = scores[i] > threshold ? 1 : 0;
      check_labels(p.truth, 2, metric, "binary target");
      break;
    }
    case OutputKind::class_scores:
      p.classes = output.shape().back();
      p.predicted = argmax(output.detach(), -1).to_vector<std::int64_t>();
      check_labels(p.truth, p.classes, metric, "target");
      break;
  }
  return p;
}

double fraction(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

void check_seen(std::int64_t seen, std::string_view metric) {
  if (seen == 0) fail(metric, "no samples seen yet (call update() with a batch first)");
}

}  // namespace

// ---- Accuracy --------------------------------------------------------------------------------
Accuracy::Accuracy(const AccuracyOptions& options) : options_(options) {}

void Accuracy::update(const Tensor& output, const Tensor& target) {
  const Prediction p = predict(output, target, options_.threshold, "accuracy");
  for (std::size_t i = 0; i < p.truth.size(); ++i) correct_ += p.predicted[i] == p.truth[i] ? 1 : 0;
  seen_ += static_cast<std::int64_t>(p.truth.size());
}

std::vector<std::pair<std::string, double>> Accuracy::result() const {
  check_seen(seen_, "accuracy");
  return {{name(), fraction(correct_, seen_)}};
}

void Accuracy::reset() { correct_ = seen_ = 0; }

// ---- TopKAccuracy -------------------------------------------------------------------------------
TopKAccuracy::TopKAccuracy(std::int64_t k) : k_(k) {
  if (k < 1) throw Error("top_k_accuracy: k must be at least 1, got " + std::to_string(k));
}

void TopKAccuracy::update(const Tensor& output, const Tensor& target) {
  const std::string metric = name();
  check_batch(output, target, metric);
  if (!leading_shape_matches(output, target) || !is_floating(output.dtype())) {
    fail(metric, "output " + output.str() + " must hold class scores of shape " + shape_str(target.shape()) +
                     " + [C] for target " + target.str());
  }
  const std::int64_t classes = output.shape().back();
  if (k_ > classes) {
    fail(metric, "k = " + std::to_string(k_) + " exceeds the " + std::to_string(classes) + " classes of output " +
                     output.str());
  }
  const std::vector<std::int64_t> truth = target_labels(target, metric);
  check_labels(truth, classes, metric, "target");
  const std::vector<double> scores = output.to_vector<double>();
  for (std::size_t r = 0; r < truth.size(); ++r) {
    const double* row = scores.data() + r * static_cast<std::size_t>(classes);
    const double s = row[truth[r]];
    const auto higher = std::count_if(row, row + classes, [s](double v) { return v > s; });
    correct_ += !std::isnan(s) && higher < k_ ? 1 : 0;
  }
  seen_ += static_cast<std::int64_t>(truth.size());
}

std::vector<std::pair<std::string, double>> TopKAccuracy::result() const {
  check_seen(seen_, name());
  return {{name(), fraction(correct_, seen_)}};
}

void TopKAccuracy::reset() { correct_ = seen_ = 0; }

// ---- ConfusionMatrix --------------------------------------------------------------------------------
ConfusionMatrix::ConfusionMatrix(std::int64_t num_classes, double threshold)
    : classes_(num_classes), threshold_(threshold) {
  if (num_classes < 2) {
    throw Error("confusion_matrix: num_classes must be at least 2, got " + std::to_string(num_classes));
  }
  counts_.assign(static_cast<std::size_t>(classes_ * classes_), 0);
}

void ConfusionMatrix::update(const Tensor& output, const Tensor& target) {
  const Prediction p = predict(output, target, threshold_, "confusion_matrix");
  if (p.kind != OutputKind::labels && p.classes != classes_) {
    fail("confusion_matrix", "output " + output.str() + " scores " + std::to_string(p.classes) +
                                 " classes, but the matrix counts " + std::to_string(classes_));
  }
  check_labels(p.truth, classes_, "confusion_matrix", "target");
  check_labels(p.predicted, classes_, "confusion_matrix", "predicted label");
  for (std::size_t i = 0; i < p.truth.size(); ++i)
    ++counts_[static_cast<std::size_t>(p.truth[i] * classes_ + p.predicted[i])];
  total_ += static_cast<std::int64_t>(p.truth.size());
}

void ConfusionMatrix::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
}

void ConfusionMatrix::check_class(std::int64_t cls, const char* role) const {
  if (cls < 0 || cls >= classes_) {
    fail("confusion_matrix", std::string(role) + " " + std::to_string(cls) + " is out of range for " +
                                 std::to_string(classes_) + " classes");
  }
}

void ConfusionMatrix::check_nonempty() const { check_seen(total_, "confusion_matrix"); }

std::int64_t ConfusionMatrix::count(std::int64_t true_class, std::int64_t predicted) const {
  check_class(true_class, "true class");
  check_class(predicted, "predicted class");
  return counts_[static_cast<std::size_t>(true_class * classes_ + predicted)];
}

ClassScores ConfusionMatrix::scores(std::int64_t cls) const {
  check_class(cls, "class");
  std::int64_t row = 0, column = 0;
  for (std::int64_t j = 0; j < classes_; ++j) {
    row += counts_[static_cast<std::size_t>(cls * classes_ + j)];
    column += counts_[static_cast<std::size_t>(j * classes_ + cls)];
  }
  const std::int64_t tp = counts_[static_cast<std::size_t>(cls * classes_ + cls)];
  const std::int64_t fp = column - tp, fn = row - tp;
  return {.precision = fraction(tp, tp + fp),
          .recall = fraction(tp, tp + fn),
          .f1 = fraction(2 * tp, 2 * tp + fp + fn),
          .support = row};
}

ClassScores ConfusionMatrix::average(Averaging averaging) const {
  check_nonempty();
  ClassScores out{.support = total_};
  switch (averaging) {
    case Averaging::binary: {
      if (classes_ != 2) {
        fail("confusion_matrix", "binary averaging needs 2 classes, the matrix has " + std::to_string(classes_) +
                                     " (use macro, micro or weighted)");
      }
      const ClassScores positive = scores(1);
      return {.precision = positive.precision, .recall = positive.recall, .f1 = positive.f1, .support = total_};
    }
    case Averaging::micro: {
      // Every sample is one true positive or one false positive (and one false negative) somewhere.
      std::int64_t tp = 0;
      for (std::int64_t c = 0; c < classes_; ++c) tp += counts_[static_cast<std::size_t>(c * classes_ + c)];
      out.precision = out.recall = out.f1 = fraction(tp, total_);
      return out;
    }
    case Averaging::macro:
    case Averaging::weighted: {
      double weight_sum = 0.0;
      for (std::int64_t c = 0; c < classes_; ++c) {
        const ClassScores s = scores(c);
        double w = static_cast<double>(s.support);
        if (averaging == Averaging::macro) {
          std::int64_t predicted = 0;
          for (std::int64_t j = 0; j < classes_; ++j) predicted += counts_[static_cast<std::size_t>(j * classes_ + c)];
          w = s.support > 0 || predicted > 0 ? 1.0 : 0.0;  // classes in neither targets nor predictions are left out
        }
        out.precision += w * s.precision;
        out.recall += w * s.recall;
        out.f1 += w * s.f1;
        weight_sum += w;
      }
      out.precision /= weight_sum;
      out.recall /= weight_sum;
      out.f1 /= weight_sum;
      return out;
    }
  }
  return out;
}

std::vector<std::pair<std::string, double>> ConfusionMatrix::result() const {
  check_nonempty();
  std::vector<std::pair<std::string, double>> out;
  out.emplace_back("accuracy", average(Averaging::micro).precision);
  for (std::int64_t c = 0; c < classes_; ++c) {
    const ClassScores s = scores(c);
    const std::string suffix = "_" + std::to_string(c);
    out.emplace_back("precision" + suffix, s.precision);
    out.emplace_back("recall" + suffix, s.recall);
    out.emplace_back("f1" + suffix, s.f1);
  }
  for (const auto& [prefix, averaging] : {std::pair{"macro_", Averaging::macro}, std::pair{"micro_", Averaging::micro},
                                          std::pair{"weighted_", Averaging::weighted}}) {
    const ClassScores s = average(averaging);
    out.emplace_back(std::string(prefix) + "precision", s.precision);
    out.emplace_back(std::string(prefix) + "recall", s.recall);
    out.emplace_back(std::string(prefix) + "f1", s.f1);
  }
  return out;
}

// ---- ClassificationScore ----------------------------------------------------------------------------
ClassificationScore::ClassificationScore(const ClassificationScoreOptions& options)
    : options_(options), matrix_(options.num_classes, options.threshold) {
  if (options.average == Averaging::binary && options.num_classes != 2) {
    throw Error(name() + ": binary averaging needs num_classes = 2, got " + std::to_string(options.num_classes));
  }
}

std::string ClassificationScore::name() const {
  const char* score = options_.score == ScoreKind::precision ? "precision"
                      : options_.score == ScoreKind::recall  ? "recall"
                                                             : "f1";
  switch (options_.average) {
    case Averaging::binary:
      return score;
    case Averaging::macro:
      return std::string("macro_") + score;
    case Averaging::micro:
      return std::string("micro_") + score;
    case Averaging::weighted:
      return std::string("weighted_") + score;
  }
  return score;
}

std::vector<std::pair<std::string, double>> ClassificationScore::result() const {
  const ClassScores s = matrix_.average(options_.average);
  const double value = options_.score == ScoreKind::precision ? s.precision
                       : options_.score == ScoreKind::recall  ? s.recall
                                                              : s.f1;
  return {{name(), value}};
}

// ---- RocAuc -------------------------------------------------------------------------------------------
void RocAuc::update(const Tensor& output, const Tensor& target) {
  check_batch(output, target, "auc");
  const bool target_ok = target.dim() == 1 || (target.dim() == 2 && target.shape()[1] == 1);
  const std::int64_t n = target.shape()[0];
  const bool output_ok = is_floating(output.dtype()) && output.dim() >= 1 && output.shape()[0] == n &&
                         (output.dim() == 1 || (output.dim() == 2 && output.shape()[1] <= 2));
  if (!target_ok || !output_ok) {
    fail("auc", "expected scores [N], [N, 1] or [N, 2] and targets [N] or [N, 1], got output " + output.str() +
                    " and target " + target.str());
  }
  const std::vector<std::int64_t> labels = target_labels(target, "auc");
  check_labels(labels, 2, "auc", "binary target");
  std::vector<double> s = output.to_vector<double>();
  if (output.dim() == 2 && output.shape()[1] == 2) {  // a monotone function of the positive class's probability
    for (std::size_t i = 0; i < labels.size(); ++i) s[i] = s[2 * i + 1] - s[2 * i];
    s.resize(labels.size());
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::isnan(s[i])) fail("auc", "score of sample " + std::to_string(i) + " of the batch is NaN");
  }
  scores_.insert(scores_.end(), s.begin(), s.end());
  for (const std::int64_t v : labels) positive_.push_back(v == 1);
}

std::vector<std::pair<std::string, double>> RocAuc::result() const {
  const std::size_t n = scores_.size();
  check_seen(static_cast<std::int64_t>(n), "auc");
  const auto positives = static_cast<double>(std::count(positive_.begin(), positive_.end(), true));
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) {
    fail("auc", "undefined when the targets hold only class " + std::string(positives == 0 ? "0" : "1") + " (" +
                    std::to_string(n) + " samples); ROC AUC needs positives and negatives");
  }
  // Mann–Whitney: U = (sum of the positives' ranks) - P(P+1)/2, with tied scores sharing their average rank.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) { return scores_[a] < scores_[b]; });
  double positive_rank_sum = 0.0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && scores_[order[j]] == scores_[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) positive_rank_sum += positive_[order[k]] ? rank : 0.0;
    i = j;
  }
  const double u = positive_rank_sum - positives * (positives + 1) / 2;
  return {{name(), u / (positives * negatives)}};
}

void RocAuc::reset() {
  scores_.clear();
  positive_.clear();
}

// ---- Perplexity ------------------------------------------------------------------------------------------
void Perplexity::update(const Tensor& output, const Tensor& target) {
  check_batch(output, target, "perplexity");
  if (!leading_shape_matches(output, target) || !is_floating(output.dtype())) {
    fail("perplexity", "expected logits of shape " + shape_str(target.shape()) + " + [V] for token ids " +
                           target.str() + ", got " + output.str());
  }
  const std::int64_t vocab = output.shape().back();
  const std::vector<std::int64_t> ids = target_labels(target, "perplexity");
  std::int64_t counted = 0;
  for (const std::int64_t id : ids) {
    if (id == ignore_index_) continue;
    if (id < 0 || id >= vocab) {
      fail("perplexity", "target " + std::to_string(id) + " is out of range for a vocabulary of " +
                             std::to_string(vocab) + " (ignore_index " + std::to_string(ignore_index_) + ")");
    }
    ++counted;
  }
  NoGradGuard no_grad;
  Tensor logits = output.detach();
  if (logits.dtype() != DType::f64) logits = cast(logits, DType::f32);  // 16-bit per-token losses would round
  const auto rows = static_cast<std::int64_t>(ids.size());
  const Tensor t = Tensor::from_vector(ids, {rows}).to(logits.device());
  const Tensor nll = cross_entropy(logits.reshape({rows, vocab}), t, ignore_index_, 0.0, Reduction::none);
  for (const double v : nll.to_vector<double>()) total_nll_ += v;  // 0 on ignored tokens
  tokens_ += counted;
}

std::vector<std::pair<std::string, double>> Perplexity::result() const {
  if (tokens_ == 0) fail("perplexity", "no tokens counted yet (none seen, or every target was ignore_index)");
  return {{name(), std::exp(total_nll_ / static_cast<double>(tokens_))}};
}

void Perplexity::reset() {
  total_nll_ = 0.0;
  tokens_ = 0;
}

// ---- Mean ------------------------------------------------------------------------------------------------
void Mean::update(const Tensor& values, const Tensor& /*target*/) {
  if (!values.defined()) fail(name_, "values are undefined");
  if (values.numel() == 0) fail(name_, "empty batch (values " + values.str() + ")");
  for (const double v : values.to_vector<double>()) sum_ += v;
  count_ += values.numel();
}

void Mean::add(double batch_mean, std::int64_t count) {
  if (count <= 0) fail(name_, "add() needs a positive sample count, got " + std::to_string(count));
  sum_ += batch_mean * static_cast<double>(count);
  count_ += count;
}

std::vector<std::pair<std::string, double>> Mean::result() const {
  check_seen(count_, name_);
  return {{name_, sum_ / static_cast<double>(count_)}};
}

void Mean::reset() {
  sum_ = 0.0;
  count_ = 0;
}

// ---- one-shot functions ----------------------------------------------------------------------------------
namespace {
double first_result(Metric& metric, const Tensor& output, const Tensor& target) {
  metric.update(output, target);
  return metric.result().front().second;
}

double score_of(ScoreKind kind, const Tensor& output, const Tensor& target, const ScoreOptions& options) {
  ClassificationScore metric(
      {.score = kind, .average = options.average, .num_classes = options.num_classes, .threshold = options.threshold});
  return first_result(metric, output, target);
}
}  // namespace

double accuracy(const Tensor& output, const Tensor& target, const AccuracyOptions& options) {
  Accuracy metric(options);
  return first_result(metric, output, target);
}

double top_k_accuracy(const Tensor& output, const Tensor& target, std::int64_t k) {
  TopKAccuracy metric(k);
  return first_result(metric, output, target);
}

ConfusionMatrix confusion_matrix(const Tensor& output, const Tensor& target, std::int64_t num_classes,
                                 double threshold) {
  ConfusionMatrix matrix(num_classes, threshold);
  matrix.update(output, target);
  return matrix;
}

double precision(const Tensor& output, const Tensor& target, const ScoreOptions& options) {
  return score_of(ScoreKind::precision, output, target, options);
}

double recall(const Tensor& output, const Tensor& target, const ScoreOptions& options) {
  return score_of(ScoreKind::recall, output, target, options);
}

double f1_score(const Tensor& output, const Tensor& target, const ScoreOptions& options) {
  return score_of(ScoreKind::f1, output, target, options);
}

double roc_auc(const Tensor& output, const Tensor& target) {
  RocAuc metric;
  return first_result(metric, output, target);
}

double perplexity(const Tensor& logits, const Tensor& target, std::int64_t ignore_index) {
  Perplexity metric(ignore_index);
  return first_result(metric, logits, target);
}

// ---- by name ---------------------------------------------------------------------------------------------
namespace {

constexpr const char* kKnownMetrics =
    "accuracy[:threshold], top_k_accuracy[:k], precision, recall, f1, "
    "<macro|micro|weighted>_<precision|recall|f1>, auc, roc_auc, perplexity, confusion_matrix, mean, loss";

template <class T>
T parse_parameter(std::string_view spec, std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    throw Error("make_metric: cannot read the parameter '" + std::string(text) + "' of '" + std::string(spec) + "'");
  }
  return value;
}

std::optional<ScoreKind> score_named(std::string_view s) {
  if (s == "precision") return ScoreKind::precision;
  if (s == "recall") return ScoreKind::recall;
  if (s == "f1") return ScoreKind::f1;
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Metric> make_metric(std::string_view spec, std::int64_t num_classes) {
  const std::size_t colon = spec.find(':');
  const std::string_view base = spec.substr(0, colon);
  const std::optional<std::string_view> param =
      colon == std::string_view::npos ? std::nullopt : std::optional(spec.substr(colon + 1));
  auto no_parameter = [&] {
    if (param)
      throw Error("make_metric: '" + std::string(base) + "' takes no parameter, got '" + std::string(spec) + "'");
  };
  auto need_classes = [&] {
    if (num_classes < 2) {
      throw Error("make_metric: '" + std::string(spec) + "' needs num_classes ≥ 2, got " + std::to_string(num_classes));
    }
  };
  if (base == "accuracy") {
    return std::make_unique<Accuracy>(
        AccuracyOptions{.threshold = param ? parse_parameter<double>(spec, *param) : 0.5});
  }
  if (base == "top_k_accuracy")
    return std::make_unique<TopKAccuracy>(param ? parse_parameter<std::int64_t>(spec, *param) : 5);
  if (base == "auc" || base == "roc_auc") {
    no_parameter();
    if (num_classes > 2) {
      throw Error("make_metric: '" + std::string(base) + "' is for binary tasks, got num_classes " +
                  std::to_string(num_classes));
    }
    return std::make_unique<RocAuc>();
  }
  if (base == "perplexity") {
    no_parameter();
    return std::make_unique<Perplexity>();
  }
  if (base == "mean" || base == "loss") {
    no_parameter();
    return std::make_unique<Mean>(std::string(base));
  }
  if (base == "confusion_matrix") {
    no_parameter();
    need_classes();
    return std::make_unique<ConfusionMatrix>(num_classes);
  }
  if (const auto score = score_named(base)) {
    no_parameter();
    need_classes();
    return std::make_unique<ClassificationScore>(
        ClassificationScoreOptions{.score = *score,
                                   .average = num_classes == 2 ? Averaging::binary : Averaging::macro,
                                   .num_classes = num_classes});
  }
  for (const auto& [prefix, averaging] : {std::pair{std::string_view("macro_"), Averaging::macro},
                                          std::pair{std::string_view("micro_"), Averaging::micro},
                                          std::pair{std::string_view("weighted_"), Averaging::weighted}}) {
    if (!base.starts_with(prefix)) continue;
    if (const auto score = score_named(base.substr(prefix.size()))) {
      no_parameter();
      need_classes();
      return std::make_unique<ClassificationScore>(
          ClassificationScoreOptions{.score = *score, .average = averaging, .num_classes = num_classes});
    }
  }
  throw Error("make_metric: unknown metric '" + std::string(spec) + "'; known: " + kKnownMetrics);
}

}  // namespace kiln::train
