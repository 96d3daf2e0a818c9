#pragma once
// AxisScale: the value range an axis shows and its "nice" tick values and
// labels (1, 2 or 5 times a power of ten on linear axes; decades, then 1-2-5
// and 1..9 within decades on logarithmic ones).
#include <string>
#include <vector>

namespace kiln::plot::detail {

struct AxisScale {
  double lo = 0.0;  ///< shown range; on a log axis these are values, not exponents
  double hi = 1.0;
  bool log = false;
  std::vector<double> ticks;        ///< ascending, all within [lo, hi]
  std::vector<std::string> labels;  ///< one per tick

  /// Where `v` falls along the axis: 0 at lo, 1 at hi (outside for values beyond).
  double fraction(double v) const;
};

/// The smallest step of the form {1, 2, 5} x 10^k that is >= `raw` (> 0).
double nice_step(double raw);

/// A linear axis showing [data_lo, data_hi] with a small margin either side and
/// as many ticks as fit in `max_ticks` (>= 2) at a 1-2-5 step, spaced at least `min_step` apart (1 for
/// whole-number data such as epochs, so no tick falls between them). Equal ends
/// (one point, a constant series) get a range around the value instead of a
/// zero-width one.
AxisScale linear_scale(double data_lo, double data_hi, int max_ticks, double min_step = 0.0);

/// A base-10 logarithmic axis for positive data, with ticks at least
/// 1/max_ticks of the axis apart (so at most about max_ticks of them).
AxisScale log_scale(double data_lo, double data_hi, int max_ticks);

}  // namespace kiln::plot::detail
