#pragma once
// Central finite differences in f64 against autograd, for every op test.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kiln/ops/ops.h"

namespace kiln::test {

/// Largest relative error between the analytic gradient of sum(f(inputs) * w)
/// (w a fixed random weight, so every output element matters) and central
/// differences, over all elements of every input that requires grad.
/// Inputs must be f64; they may be non-contiguous views.
inline double gradcheck_error(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              std::vector<Tensor> inputs, double eps = 1e-6) {
  Generator gen(1234);
  Tensor out0;
  {
    NoGradGuard g;
    out0 = f(inputs);
  }
  const Tensor weight = randn(out0.shape(), gen, DType::f64);
  auto loss = [&](const std::vector<Tensor>& xs) { return sum(mul(f(xs), weight)); };
  for (Tensor& x : inputs) {
    if (x.requires_grad()) x.zero_grad();
  }
  loss(inputs).backward();
  double worst = 0.0;
  for (Tensor& x : inputs) {
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad().contiguous();
    EXPECT_TRUE(analytic.defined());
    if (!analytic.defined()) return 1e9;
    const std::vector<double> ga = analytic.to_vector<double>();
    // Perturb through a contiguous copy of the logical values, rebuilt as the same view layout.
    std::vector<double> values = x.to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      auto eval = [&](double delta) {
        std::vector<double> v = values;
        v[i] += delta;
        NoGradGuard g;
        std::vector<Tensor> xs = inputs;
        for (Tensor& t : xs) {
          if (t.id() == x.id()) {
            // Keep x's strides: write into a fresh buffer laid out like x.
            Tensor base = Tensor::from_vector(v, x.shape());
            t = base;
          }
        }
        return loss(xs).item();
      };
      const double numeric = (eval(eps) - eval(-eps)) / (2 * eps);
      const double denom = std::max({1.0, std::fabs(numeric), std::fabs(ga[i])});
      worst = std::max(worst, std::fabs(numeric - ga[i]) / denom);
    }
  }
  return worst;
}

/// A random f64 tensor that requires grad, optionally a transposed or sliced view.
enum class Layout { contiguous, transposed, sliced };
inline Tensor make_input(const Shape& shape, Generator& gen, Layout layout = Layout::contiguous, double lo = -2,
                         double hi = 2) {
  Tensor t;
  if (layout == Layout::contiguous || shape.size() < 2) {
    t = uniform(shape, lo, hi, gen, DType::f64);
  } else if (layout == Layout::transposed) {
    Shape s = shape;
    std::swap(s[s.size() - 1], s[s.size() - 2]);
    t = uniform(s, lo, hi, gen, DType::f64).transpose(-1, -2);
  } else {
    Shape s = shape;
    s.back() = s.back() * 2 + 1;
    t = uniform(s, lo, hi, gen, DType::f64).slice(-1, 1, s.back(), 2);
  }
  Tensor leaf = t.detach();
  leaf.set_requires_grad(true);
  return leaf;
}

/// Runs f and returns the message of the kiln::Error it throws (a test failure if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

/// Expects every part to appear in msg.
inline void expect_contains(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

/// Every layout make_input can produce, for loops over non-contiguous inputs.
inline constexpr Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::sliced};

/// A uniform integer in [lo, hi].
inline std::int64_t pick(Generator& gen, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(gen.next_below(static_cast<std::uint64_t>(hi - lo + 1)));
}

/// A random shape of `ndim` dims, each in [lo, hi].
inline Shape random_shape(Generator& gen, std::int64_t ndim, std::int64_t lo = 1, std::int64_t hi = 4) {
  Shape s;
  for (std::int64_t i = 0; i < ndim; ++i) s.push_back(pick(gen, lo, hi));
  return s;
}

}  // namespace kiln::test
