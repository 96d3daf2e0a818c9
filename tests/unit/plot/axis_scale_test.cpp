#include "kiln/plot/axis_scale.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace kiln::plot::detail {
namespace {

/// The mantissa of a positive value: v / 10^floor(log10 v), in [1, 10).
double mantissa(double v) { return v / std::pow(10.0, std::floor(std::log10(v) + 1e-12)); }

bool is_one_two_five(double v) {
  const double m = mantissa(v);
  return std::abs(m - 1) < 1e-9 || std::abs(m - 2) < 1e-9 || std::abs(m - 5) < 1e-9;
}

TEST(PlotAxisScale, NiceStepIsTheSmallestOneTwoOrFiveTimesAPowerOfTenNotBelowRaw) {
  EXPECT_DOUBLE_EQ(nice_step(1.0), 1.0);
  EXPECT_DOUBLE_EQ(nice_step(0.13), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(3.0), 5.0);
  EXPECT_DOUBLE_EQ(nice_step(7.0), 10.0);
  EXPECT_DOUBLE_EQ(nice_step(45.0), 50.0);
  std::mt19937 gen(7);
  std::uniform_real_distribution<double> exponent(-8.0, 8.0);
  for (int i = 0; i < 1000; ++i) {
    const double raw = std::pow(10.0, exponent(gen));
    const double step = nice_step(raw);
    EXPECT_TRUE(is_one_two_five(step)) << raw << " -> " << step;
    EXPECT_GE(step, raw * (1 - 1e-9));
    EXPECT_LE(step, raw * 2.5 * (1 + 1e-9));  // the widest jump is 2 -> 5
  }
}

TEST(PlotAxisScale, LinearTicksAreEvenNiceMultiplesInsideAPaddedRange) {
  for (const auto& [lo, hi, max_ticks] : {std::tuple{0.0, 1.0, 6}, std::tuple{-3.7, 12.2, 8}, std::tuple{0.431, 0.437, 5},
                                          std::tuple{1e-3, 2e5, 10}, std::tuple{-50.0, -49.0, 4}}) {
    const AxisScale s = linear_scale(lo, hi, max_ticks);
    EXPECT_LT(s.lo, lo);
    EXPECT_GT(s.hi, hi);
    ASSERT_GE(s.ticks.size(), 2u) << lo << ".." << hi;
    EXPECT_LE(static_cast<int>(s.ticks.size()), max_ticks);
    ASSERT_EQ(s.labels.size(), s.ticks.size());
    const double step = s.ticks[1] - s.ticks[0];
    EXPECT_TRUE(is_one_two_five(step)) << step;
    for (std::size_t i = 0; i < s.ticks.size(); ++i) {
      EXPECT_GE(s.ticks[i], s.lo);
      EXPECT_LE(s.ticks[i], s.hi);
      EXPECT_NEAR(std::remainder(s.ticks[i], step), 0.0, step * 1e-6) << "tick not a multiple of the step";
      if (i > 0) {
        EXPECT_NEAR(s.ticks[i] - s.ticks[i - 1], step, step * 1e-6);
      }
    }
  }
}

TEST(PlotAxisScale, LabelsCarryTheDecimalsTheStepNeeds) {
  const AxisScale s = linear_scale(0.0, 1.0, 7);
  EXPECT_EQ(s.labels, (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  const AxisScale whole = linear_scale(0.0, 100.0, 6);
  EXPECT_EQ(whole.labels.front(), "0");
  EXPECT_EQ(whole.labels.back(), "100");
  // Zero inside a range is labelled "0.0", never "-0.0".
  const AxisScale around_zero = linear_scale(-0.3, 0.3, 7);
  EXPECT_NE(std::find(around_zero.labels.begin(), around_zero.labels.end(), "0.0"), around_zero.labels.end());
  for (const auto& l : around_zero.labels) EXPECT_NE(l, "-0.0");
}

TEST(PlotAxisScale, MillionsGetASuffixAndTinyValuesAnExponent) {
  const AxisScale big = linear_scale(0.0, 2e7, 5);
  EXPECT_EQ(big.labels.front(), "0");
  EXPECT_EQ(big.labels.back(), "20M");
  const AxisScale tiny = linear_scale(0.0, 3e-7, 5);
  EXPECT_EQ(tiny.labels.front(), "0");
  EXPECT_EQ(tiny.labels[1], "1e-07");
}

TEST(PlotAxisScale, FlatRangeIsWidenedAroundItsValue) {
  for (double v : {0.0, 5.0, -2.5, 1e9, 1e-9}) {
    const AxisScale s = linear_scale(v, v, 6);
    EXPECT_LT(s.lo, v);
    EXPECT_GT(s.hi, v);
    EXPECT_NEAR(s.fraction(v), 0.5, 1e-9);
    EXPECT_FALSE(s.ticks.empty()) << v;
  }
}

TEST(PlotAxisScale, WholeNumberDataGetsNoTicksBetweenIntegers) {
  const AxisScale s = linear_scale(1.0, 3.0, 20, /*min_step=*/1.0);
  EXPECT_EQ(s.ticks, (std::vector<double>{1.0, 2.0, 3.0}));
  EXPECT_EQ(s.labels, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(PlotAxisScale, LogTicksAreOneTwoFiveTimesPowersOfTenSpacedApart) {
  const AxisScale s = log_scale(0.15, 2.3, 8);
  EXPECT_TRUE(s.log);
  EXPECT_EQ(s.ticks, (std::vector<double>{0.2, 0.5, 1.0, 2.0}));
  EXPECT_EQ(s.labels, (std::vector<std::string>{"0.2", "0.5", "1", "2"}));
  EXPECT_NEAR(s.fraction(std::sqrt(s.lo * s.hi)), 0.5, 1e-9);

  // Twelve decades with room for about five ticks: every third decade.
  const AxisScale wide = log_scale(1e-6, 1e6, 5);
  ASSERT_GE(wide.ticks.size(), 2u);
  for (std::size_t i = 1; i < wide.ticks.size(); ++i) {
    EXPECT_NEAR(std::log10(wide.ticks[i] / wide.ticks[i - 1]), 3.0, 1e-9);
  }
  // Within one decade every integer mantissa fits.
  EXPECT_EQ(log_scale(2.0, 9.0, 20).labels, (std::vector<std::string>{"2", "3", "4", "5", "6", "7", "8", "9"}));
}

TEST(PlotAxisScale, NarrowLogRangeFallsBackToEvenlySpacedTicks) {
  const AxisScale s = log_scale(0.31, 0.39, 6);
  ASSERT_GE(s.ticks.size(), 2u);
  for (double t : s.ticks) {
    EXPECT_GE(t, s.lo);
    EXPECT_LE(t, s.hi);
  }
  const AxisScale one = log_scale(0.5, 0.5, 6);  // a single value: a factor of two either side
  EXPECT_LT(one.lo, 0.5);
  EXPECT_GT(one.hi, 0.5);
  EXPECT_GE(one.ticks.size(), 2u);
}

}  // namespace
}  // namespace kiln::plot::detail
