#include "kiln/plot/axis_scale.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <utility>

namespace kiln::plot::detail {
namespace {

// Share of the data's span left empty beyond each end, so lines and points do not sit on the frame.
constexpr double kMargin = 0.05;

std::string format(const char* fmt, int digits, double v) {
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), fmt, digits, v);
  return buf.data();
}

/// Labels with as many decimals as the step needs, so "0.0, 0.5, 1.0" not "0, 0.5, 1".
/// Millions and more get a suffix ("2.5M", "10G") rather than a row of zeros;
/// tiny values get exponents ("2e-07").
std::vector<std::string> linear_labels(const std::vector<double>& ticks, double step) {
  double largest = 0.0;
  for (double t : ticks) largest = std::max(largest, std::abs(t));
  const int step_exp = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  const int largest_exp = largest > 0 ? static_cast<int>(std::floor(std::log10(largest) + 1e-9)) : step_exp;
  std::vector<std::string> out;
  for (double t : ticks) {
    if (largest_exp < 6 && step_exp >= -5) {
      out.push_back(format("%.*f", std::max(0, -step_exp), t));
    } else if (largest_exp >= 6 && largest_exp < 15 && t != 0.0) {
      constexpr std::array<const char*, 3> kSuffix{"M", "G", "T"};
      const int group = largest_exp / 3;  // 2: millions, 3: billions, 4: trillions
      const int unit_exp = 3 * group;
      out.push_back(format("%.*f", std::max(0, unit_exp - step_exp), t / std::pow(10.0, unit_exp)) +
                    kSuffix[static_cast<std::size_t>(group - 2)]);
    } else if (t == 0.0) {
      out.emplace_back("0");
    } else {
      // Significant digits down to the step's decimal place.
      const int exp = static_cast<int>(std::floor(std::log10(std::abs(t)) + 1e-9));
      out.push_back(format("%.*g", std::max(1, exp - step_exp + 1), t));
    }
  }
  return out;
}

/// Widens a zero-width range around its value: +-10% of it, or +-1 around zero.
void widen_if_flat(double& lo, double& hi) {
  const double scale = std::max(std::abs(lo), std::abs(hi));
  // Spans below double's resolution at this magnitude are flat too.
  if (hi - lo > scale * 1e-12 && hi > lo) return;
  const double half = scale > 0 ? scale * 0.1 : 1.0;
  const double mid = (lo + hi) / 2;
  lo = mid - half;
  hi = mid + half;
}

/// Multiples of `step` within [lo, hi]. Integer multiples (not a running sum), so no rounding drift.
std::vector<double> multiples(double lo, double hi, double step) {
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step); k * step <= hi; k += 1.0) {
    const double t = k * step;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);  // no "-0.0"
  }
  return ticks;
}

/// The densest multiples of a 1-2-5 step (>= min_step) within [lo, hi] that number
/// at most max_ticks; sets `step`. Counting the ticks that actually fall inside,
/// rather than dividing the span, keeps short axes from ending up with one tick.
std::vector<double> linear_ticks(double lo, double hi, int max_ticks, double min_step, double& step) {
  const int limit = std::max(1, max_ticks);
  step = nice_step(std::max((hi - lo) / (limit * 5.0), min_step));
  std::vector<double> ticks = multiples(lo, hi, step);
  while (static_cast<int>(ticks.size()) > limit) {
    step = nice_step(step * 1.5);  // the next rung: 1 -> 2 -> 5 -> 10
    ticks = multiples(lo, hi, step);
  }
  return ticks;
}

}  // namespace

double AxisScale::fraction(double v) const {
  if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  return (v - lo) / (hi - lo);
}

double nice_step(double raw) {
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (raw <= m * mag * (1 + 1e-9)) return m * mag;
  }
  return 10.0 * mag;
}

AxisScale linear_scale(double data_lo, double data_hi, int max_ticks, double min_step) {
  double lo = data_lo, hi = data_hi;
  widen_if_flat(lo, hi);
  const double pad = (hi - lo) * kMargin;
  AxisScale s{.lo = lo - pad, .hi = hi + pad, .log = false, .ticks = {}, .labels = {}};
  double step = 0.0;
  s.ticks = linear_ticks(s.lo, s.hi, max_ticks, min_step, step);
  s.labels = linear_labels(s.ticks, step);
  return s;
}

AxisScale log_scale(double data_lo, double data_hi, int max_ticks) {
  double a = std::log10(data_lo), b = std::log10(data_hi);
  if (b - a < 1e-12) {  // one value: show a factor of two either side
    a -= std::log10(2.0);
    b += std::log10(2.0);
  }
  const double pad = (b - a) * kMargin;
  AxisScale s{.lo = std::pow(10.0, a - pad), .hi = std::pow(10.0, b + pad), .log = true, .ticks = {}, .labels = {}};
  const int first = static_cast<int>(std::floor(a - pad)), last = static_cast<int>(std::ceil(b + pad));
  const auto within = [&](double v) { return v >= s.lo * (1 - 1e-12) && v <= s.hi * (1 + 1e-12); };
  const auto ticks_with = [&](std::initializer_list<double> mantissas, int decade_step) {
    std::vector<double> out;
    for (int e = first; e <= last; ++e) {
      if ((e - first) % decade_step != 0) continue;
      for (double m : mantissas) {
        const double v = m * std::pow(10.0, e);
        if (within(v)) out.push_back(v);
      }
    }
    return out;
  };
  // The finest set whose neighbours are at least 1/max_ticks of the axis apart
  // (log ticks are unevenly spaced, so a count alone would let 8, 9, 10 crowd):
  // 1..9 within a decade, then 1-2-5, then decades, then every n-th decade.
  const double min_gap = (std::log10(s.hi) - std::log10(s.lo)) / std::max(1, max_ticks);
  const auto spaced = [&](const std::vector<double>& ticks) {
    for (std::size_t i = 1; i < ticks.size(); ++i) {
      if (std::log10(ticks[i]) - std::log10(ticks[i - 1]) < min_gap * (1 - 1e-9)) return false;
    }
    return true;
  };
  for (const auto& mantissas : {std::initializer_list<double>{1, 2, 3, 4, 5, 6, 7, 8, 9},
                                std::initializer_list<double>{1, 2, 5}, std::initializer_list<double>{1}}) {
    s.ticks = ticks_with(mantissas, 1);
    if (spaced(s.ticks)) break;
  }
  for (int n = 2; !spaced(s.ticks); ++n) s.ticks = ticks_with({1}, n);
  if (s.ticks.size() < 2) {
    // Less than a factor of two or three shown (0.31 .. 0.39): evenly spaced values label it better.
    double step = 0.0;
    std::vector<double> even = linear_ticks(s.lo, s.hi, max_ticks, 0.0, step);
    if (even.size() > s.ticks.size()) {
      s.ticks = std::move(even);
      s.labels = linear_labels(s.ticks, step);
      return s;
    }
  }
  for (double t : s.ticks) s.labels.push_back(format("%.*g", 6, t));
  return s;
}

}  // namespace kiln::plot::detail
