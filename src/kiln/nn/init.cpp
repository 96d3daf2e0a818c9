#include "kiln/nn/init.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

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

void xavier_normal_(Tensor& t, Generator& gen, double gain) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

void kaiming_normal_(Tensor& t, Generator& gen, double a) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  if (fan_in == 0) throw Error("kaiming_normal_: tensor " + t.str() + " has zero fan_in");
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  normal_(t, 0.0, gain / std::sqrt(static_cast<double>(fan_in)), gen);
}

void orthogonal_(Tensor& t, Generator& gen, double gain) {
  check_floating(t, "orthogonal_");
  if (t.dim() < 2) throw Error("orthogonal_: needs a tensor with at least 2 dimensions, got " + t.str());
  const std::int64_t rows = t.size(0), cols = t.numel() / std::max<std::int64_t>(rows, 1);
  if (rows == 0 || cols == 0) return;
  // Work on A [m, n] with m ≥ n (the transpose when rows < cols) and orthonormalise
  // its n columns by modified Gram-Schmidt, run twice for accuracy; that is the Q of
  // A = QR with R's diagonal positive, which is what torch's sign fix produces.
  const bool wide = rows < cols;
  const std::int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  const std::vector<double> a = randn({rows, cols}, gen, DType::f64).to_vector<double>();
  std::vector<double> q(static_cast<std::size_t>(m * n));  // column-major: column j at q[j·m]
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      const double v = a[static_cast<std::size_t>(i * cols + j)];
      q[static_cast<std::size_t>(wide ? i * m + j : j * m + i)] = v;
    }
  }
  for (std::int64_t j = 0; j < n; ++j) {
    double* qj = q.data() + j * m;
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t k = 0; k < j; ++k) {
        const double* qk = q.data() + k * m;
        double dot = 0;
        for (std::int64_t i = 0; i < m; ++i) dot += qk[i] * qj[i];
        for (std::int64_t i = 0; i < m; ++i) qj[i] -= dot * qk[i];
      }
    }
    double norm = 0;
    for (std::int64_t i = 0; i < m; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    if (norm == 0) throw Error("orthogonal_: the random draw for " + t.str() + " was rank-deficient; draw again");
    for (std::int64_t i = 0; i < m; ++i) qj[i] /= norm;
  }
  std::vector<double> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      out[static_cast<std::size_t>(i * cols + j)] = gain * q[static_cast<std::size_t>(wide ? i * m + j : j * m + i)];
    }
  }
  NoGradGuard no_grad;
  copy_(t, Tensor::from_vector(out, {rows, cols}).to(t.device()).view(t.shape()));
}

void apply_(Tensor& t, Init how, Generator& gen) {
  switch (how) {
    case Init::glorot_uniform: return xavier_uniform_(t, gen);
    case Init::glorot_normal: return xavier_normal_(t, gen);
    case Init::he_uniform: return kaiming_uniform_(t, gen, 0.0);
    case Init::he_normal: return kaiming_normal_(t, gen, 0.0);
    case Init::lecun_uniform: return kaiming_uniform_(t, gen, 1.0);  // gain √(2/2) = 1
    case Init::lecun_normal: return kaiming_normal_(t, gen, 1.0);
    case Init::uniform: return uniform_(t, -0.05, 0.05, gen);
    case Init::normal: return normal_(t, 0.0, 0.05, gen);
    case Init::zeros: return zeros_(t);
    case Init::torch_default: break;
  }
  throw Error(std::string("init::apply_: '") + init_name(how) +
              "' is a layer's own rule; the layer applies it, not init::apply_");
}

}  // namespace init

const char* init_name(Init how) {
  switch (how) {
    case Init::torch_default: return "torch_default";
    case Init::glorot_uniform: return "glorot_uniform";
    case Init::glorot_normal: return "glorot_normal";
    case Init::he_uniform: return "he_uniform";
    case Init::he_normal: return "he_normal";
    case Init::lecun_uniform: return "lecun_uniform";
    case Init::lecun_normal: return "lecun_normal";
    case Init::uniform: return "uniform";
    case Init::normal: return "normal";
    case Init::zeros: return "zeros";
  }
  return "unknown";
}

}  // namespace kiln::nn
