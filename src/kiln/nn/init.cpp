#include "kiln/nn/init.h"

#include <cmath>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln::nn {

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

namespace init {
namespace {

void check_floating(const Tensor& t, const char* op) {
  if (!is_floating(t.dtype())) throw Error(std::string(op) + ": needs a floating-point tensor, got " + t.str());
}

}  // namespace

std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& t) {
  if (t.dim() < 2) {
    throw Error("init: fan in and fan out need a tensor with at least 2 dimensions, got " + t.str());
  }
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
  check_floating(t, "uniform_");
  if (!(low <= high)) throw Error("uniform_: low " + std::to_string(low) + " > high " + std::to_string(high));
  NoGradGuard no_grad;
  copy_(t, uniform(t.shape(), low, high, gen, t.dtype(), t.device()));
}

void normal_(Tensor& t, double mean, double std, Generator& gen) {
  check_floating(t, "normal_");
  if (!(std >= 0)) throw Error("normal_: std must be >= 0, got " + std::to_string(std));
  NoGradGuard no_grad;
  copy_(t, add(mul(randn(t.shape(), gen, t.dtype(), t.device()), std), mean));
}

void constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  fill_(t, value);
}

void zeros_(Tensor& t) { constant_(t, 0.0); }
void ones_(Tensor& t) { constant_(t, 1.0); }

void xavier_uniform_(Tensor& t, Generator& gen, double gain) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void kaiming_uniform_(Tensor& t, Generator& gen, double a) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  if (fan_in == 0) throw Error("kaiming_uniform_: tensor " + t.str() + " has zero fan_in");
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in));
  uniform_(t, -bound, bound, gen);
}

}  // namespace init
}  // namespace kiln::nn
