#pragma once
// Helpers shared by the optimizer tests: deterministic tensors, a tiny model
// whose gradients depend on its parameters, and exact comparisons.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/nn/state_dict.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optimizer.h"

namespace kiln::optim::testing {

/// A leaf parameter with values from a seeded normal draw.
inline Tensor make_param(const Shape& shape, std::uint64_t seed, DType dtype = DType::f64) {
  Generator gen(seed);
  Tensor p = randn(shape, gen, dtype);
  p.set_requires_grad(true);
  return p;
}

/// Fresh leaves holding copies of `params` (a model restored from a checkpoint).
inline std::vector<Tensor> copy_params(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(p.detach().clone().set_requires_grad(true));
  return out;
}

/// Bit-for-bit equality of values (f32 and f64 convert to double exactly).
inline bool same_values(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}

inline void expect_same_params(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_values(a[i], b[i])) << what << ": parameter " << i;
}

/// Same names in the same order, and bit-identical tensors.
inline void expect_same_state(const nn::StateDict& a, const nn::StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.entries()[i].first, b.entries()[i].first);
    EXPECT_TRUE(same_values(a.entries()[i].second, b.entries()[i].second)) << a.entries()[i].first;
  }
}

/// Names of a state dict, in order.
inline std::vector<std::string> names_of(const nn::StateDict& s) {
  std::vector<std::string> out;
  for (const auto& [name, t] : s) out.push_back(name);
  return out;
}

/// A small regression model y = tanh(x·Wᵀ + b): gradients depend on the
/// parameters, so a wrong restored state changes every later step.
struct TinyModel {
  std::vector<Tensor> params;  // W [3, 4], b [3]
  Tensor x, y;

  explicit TinyModel(DType dtype = DType::f64) {
    params = {make_param({3, 4}, 11, dtype), make_param({3}, 12, dtype)};
    Generator gen(13);
    x = randn({8, 4}, gen, dtype);
    y = randn({8, 3}, gen, dtype);
  }
  /// Sets every parameter's gradient for the loss at the current values.
  void backward(const std::vector<Tensor>& ps) const {
    for (Tensor p : ps) p.zero_grad();
    const Tensor d = sub(tanh(linear(x, ps[0], ps[1])), y);
    mean(mul(d, d)).backward();
  }
};

/// Restores the thread count when a test changes it.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

}  // namespace kiln::optim::testing
