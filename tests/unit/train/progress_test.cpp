#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "kiln/train/progress.h"

namespace kiln::train {
namespace {

std::size_t count(const std::string& s, char c) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), c)); }

TEST(Progress, PlainModePrintsEveryNStepsAndAtEpochEnd) {
  std::ostringstream out;
  ProgressReporter p(out, {.epochs = 2, .steps_per_epoch = 7, .interactive = false, .log_every = 3});
  p.start_epoch(1);
  for (int s = 1; s <= 7; ++s) p.update(s, 1.0, 10);
  const EpochStats stats = p.end_epoch();
  const std::string text = out.str();
  EXPECT_EQ(count(text, '\r'), 0U);
  EXPECT_EQ(count(text, '\n'), 3U) << text;  // steps 3, 6 and the epoch's last step 7
  EXPECT_NE(text.find("epoch 1/2  step 3/7  loss 1.0000"), std::string::npos) << text;
  EXPECT_NE(text.find("step 7/7"), std::string::npos) << text;
  EXPECT_NE(text.find("samples/s"), std::string::npos);
  EXPECT_NE(text.find("ETA "), std::string::npos);
  EXPECT_DOUBLE_EQ(stats.mean_loss, 1.0);
  EXPECT_GE(stats.seconds, 0.0);
}

TEST(Progress, PlainModeDoesNotRepeatTheLastLine) {
  std::ostringstream out;
  ProgressReporter p(out, {.epochs = 1, .steps_per_epoch = 4, .interactive = false, .log_every = 2});
  p.start_epoch(1);
  for (int s = 1; s <= 4; ++s) p.update(s, static_cast<double>(s), 1);
  const EpochStats stats = p.end_epoch();
  EXPECT_EQ(count(out.str(), '\n'), 2U) << out.str();
  EXPECT_DOUBLE_EQ(stats.mean_loss, 2.5);
}

TEST(Progress, InteractiveModeRedrawsOneLine) {
  std::ostringstream out;
  ProgressReporter p(out, {.epochs = 1, .steps_per_epoch = 5, .interactive = true, .log_every = 1});
  p.start_epoch(1);
  for (int s = 1; s <= 5; ++s) p.update(s, 0.5, 4);
  p.end_epoch();
  const std::string text = out.str();
  EXPECT_GE(count(text, '\r'), 2U);
  EXPECT_EQ(count(text, '\n'), 1U);  // only the epoch end moves to a new line
  EXPECT_EQ(text.back(), '\n');
  // Keras' bar: the step count and a full bar at the end.
  EXPECT_NE(text.find("5/5 [==============================]"), std::string::npos) << text;
}

TEST(Progress, ShowsRunningMetricsAndResumesMidEpoch) {
  std::ostringstream out;
  ProgressReporter p(out, {.epochs = 2, .steps_per_epoch = 10, .interactive = false, .log_every = 2});
  p.start_epoch(2, 6);  // a resumed epoch: steps 7..10 remain
  p.update(8, {{"loss", 0.25}, {"accuracy", 0.875}}, 4);
  const std::string text = out.str();
  EXPECT_NE(text.find("epoch 2/2  step 8/10  loss 0.2500  accuracy 0.8750"), std::string::npos) << text;
  const EpochStats stats = p.end_epoch();
  EXPECT_GT(stats.samples_per_second, 0.0);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(ProgressReporter::format_duration(5.2), "5s");
  EXPECT_EQ(ProgressReporter::format_duration(125), "2m05s");
  EXPECT_EQ(ProgressReporter::format_duration(3725), "1h02m05s");
}

}  // namespace
}  // namespace kiln::train
