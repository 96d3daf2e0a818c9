// The q8_0 linear kernel (linear_q8_0_kernels: backend/cpu/gemv_q8_0_cpu.cpp)
// against a plain scalar reference of the same arithmetic: input rows rounded
// to q8_0 as llama.cpp's x86 code rounds activations, exact integer sums per
// 32-block, scaled by d_w·d_x and summed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/quantized_weights.h"

namespace kiln {
namespace {

constexpr std::int64_t kBlock = 32;

struct RoundedRow {
  std::vector<int> q;
  std::vector<float> d;  // per block
};

// llama.cpp's quantize_row_q8_0 on x86: d = max|x| / 127 kept as f16; the
// quants use 127 / max|x| and round half to even.
RoundedRow round_row(const float* x, std::int64_t K) {
  RoundedRow r;
  for (std::int64_t b = 0; b < K / kBlock; ++b) {
    float amax = 0.0F;
    for (std::int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[b * kBlock + j]));
    const float id = amax != 0.0F ? 127.0F / amax : 0.0F;
    for (std::int64_t j = 0; j < kBlock; ++j) r.q.push_back(static_cast<int>(std::nearbyint(x[b * kBlock + j] * id)));
    r.d.push_back(static_cast<float>(f16(amax / 127.0F)));
  }
  return r;
}

double gelu(double v, LinearActivation act) {
  if (act == LinearActivation::gelu_erf) return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
}

struct Expected {
  double value;
  double tolerance;
};

// One output: Σ_b (d_w·d_x)·Σ_j q_w·q_x in f64 over exact integer sums. The
// tolerance allows f32 rounding of the terms the kernel adds (its lanes carry
// the 128·q_x of W's offset-binary storage, hence the 128 + |q_w|).
Expected reference(const Q8_0Weight& w, std::int64_t n, const RoundedRow& x, float bias, LinearActivation act) {
  const std::int64_t K = w.cols(), nb = K / kBlock;
  const std::uint8_t* q = w.quants.data<std::uint8_t>() + n * K;
  const f16* d = w.scales.data<f16>() + n * nb;
  double sum = 0.0, magnitude = 0.0;
  for (std::int64_t b = 0; b < nb; ++b) {
    std::int64_t s = 0, size = 0;
    for (std::int64_t j = 0; j < kBlock; ++j) {
      const int qw = static_cast<int>(q[b * kBlock + j]) - 128, qx = x.q[static_cast<std::size_t>(b * kBlock + j)];
      s += qw * qx;
      size += (128 + std::abs(qw)) * std::abs(qx);
    }
    const float scale = static_cast<float>(d[b]) * x.d[static_cast<std::size_t>(b)];
    sum += static_cast<double>(scale) * static_cast<double>(s);
    magnitude += std::fabs(static_cast<double>(scale)) * static_cast<double>(size);
  }
  const double pre = sum + bias;
  // A few f32 roundings of that size (measured: at most 1.2e-7 · magnitude);
  // GELU's slope is below 1.2 and kiln's f32 tanh / erf are good to ~1e-6.
  const double tol = 4e-7 * magnitude + 1e-6 * std::fabs(pre) + (act == LinearActivation::none ? 0.0 : 2e-6);
  return {act == LinearActivation::none ? pre : gelu(pre, act), tol};
}

Tensor run(const Tensor& x, const Q8_0Weight& w, const Tensor& bias, LinearActivation act) {
  Tensor out = Tensor::empty({x.shape()[0], w.rows()}, DType::f32);
  linear_q8_0_kernels().get(kCPU, DType::f32)(x, w, bias, act, out);
  return out;
}

// Weights like a trained layer's (small, a few large), inputs with an outlier
// channel (as after a LayerNorm), and one all-zero block in each.
Tensor weights(std::int64_t N, std::int64_t K, Generator& gen) {
  Tensor w = mul(randn({N, K}, gen), 0.02);
  float* p = w.data<float>();
  for (std::int64_t i = 0; i < w.numel(); i += 97) p[i] *= 8.0F;
  if (K >= 64 && N > 1) std::fill(p + K + 32, p + K + 64, 0.0F);
  return w;
}

Tensor inputs(std::int64_t M, std::int64_t K, Generator& gen) {
  Tensor x = randn({M, K}, gen);
  float* p = x.data<float>();
  for (std::int64_t m = 0; m < M; ++m) p[m * K + (7 % K)] *= 20.0F;
  if (M > 1 && K >= 64) std::fill(p + K, p + K + 32, 0.0F);
  return x;
}

void expect_matches_reference(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act,
                              const std::string& what) {
  const Q8_0Weight w8 = quantize_q8_0(w);
  const Tensor y = run(x, w8, bias, act);
  const std::int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[0];
  const float* xp = x.data<float>();
  const float* yp = y.data<float>();
  int bad = 0;
  for (std::int64_t m = 0; m < M && bad < 5; ++m) {
    const RoundedRow r = round_row(xp + m * K, K);
    for (std::int64_t n = 0; n < N && bad < 5; ++n) {
      const Expected e = reference(w8, n, r, bias.defined() ? bias.data<float>()[n] : 0.0F, act);
      const double got = yp[m * N + n];
      if (!(std::fabs(got - e.value) <= e.tolerance)) {
        ++bad;
        ADD_FAILURE() << what << ": out[" << m << ", " << n << "] = " << got << ", reference " << e.value
                      << " (tolerance " << e.tolerance << ")";
      }
    }
  }
}

TEST(LinearQ8_0Kernel, MatchesTheScalarReferenceOverOddShapes) {
  Generator gen(21);
  for (const std::int64_t K : {32, 96, 160, 544, 800, 3072}) {
    for (const std::int64_t N : {1, 13, 101}) {
      const Tensor w = weights(N, K, gen);
      for (std::int64_t M = 1; M <= 7; ++M) {
        expect_matches_reference(inputs(M, K, gen), w, Tensor(), LinearActivation::none,
                                 "M " + std::to_string(M) + " N " + std::to_string(N) + " K " + std::to_string(K));
      }
    }
  }
}

TEST(LinearQ8_0Kernel, BiasAndActivationEpilogue) {
  Generator gen(22);
  for (const auto act : {LinearActivation::none, LinearActivation::gelu_tanh, LinearActivation::gelu_erf}) {
    for (const std::int64_t M : {1, 3, 6}) {
      const std::int64_t N = 67, K = 224;
      const Tensor w = weights(N, K, gen), b = randn({N}, gen);
      expect_matches_reference(inputs(M, K, gen), w, b, act,
                               "act " + std::to_string(static_cast<int>(act)) + " M " + std::to_string(M));
    }
  }
}

// Whole rows of W against many input rows (a prompt): the tiles of W and the
// groups of four inputs cover every output exactly once.
TEST(LinearQ8_0Kernel, ManyRowsAcrossThreadsAndTiles) {
  Generator gen(23);
  const std::int64_t M = 37, N = 300, K = 768;
  expect_matches_reference(inputs(M, K, gen), weights(N, K, gen), randn({N}, gen), LinearActivation::none, "prompt");
}

// Inputs placed on exact halves: with max|x| = 127/8, x·127/max|x| is k + 0.5,
// which llama.cpp's x86 rounding takes to the even neighbour (round() would go
// away from zero). W picks out single input quants: row n is 127/4 at column n
// (d_w = 1/4, q_w = 127), so out[n] = (1/4)·(1/8)·127·q_x[n] exactly.
TEST(LinearQ8_0Kernel, RoundsInputsHalfToEvenWithScale127OverMax) {
  const std::int64_t K = 32;
  std::vector<float> xs(K, 0.0F);
  const std::vector<float> halves = {127.0F, 0.5F, 1.5F, 2.5F, -0.5F, -1.5F, -2.5F, 3.25F, -126.5F, 125.5F};
  for (std::size_t i = 0; i < halves.size(); ++i) xs[i] = halves[i] / 8.0F;
  std::vector<float> ws(K * K, 0.0F);
  for (std::int64_t n = 0; n < K; ++n) ws[static_cast<std::size_t>(n * K + n)] = 127.0F / 4.0F;
  const Q8_0Weight w8 = quantize_q8_0(Tensor::from_vector(ws, {K, K}));
  const std::vector<float> y = run(Tensor::from_vector(xs, {1, K}), w8, Tensor(), LinearActivation::none).to_vector<float>();
  const std::vector<float> want = {127, 0, 2, 2, -0, -2, -2, 3, -126, 126};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(y[i], want[i] * 127.0F / 32.0F) << "input " << halves[i] << "/8 should round to " << want[i];
  }
}

TEST(LinearQ8_0Kernel, RefusesMismatchedShapes) {
  Generator gen(24);
  const Q8_0Weight w8 = quantize_q8_0(randn({8, 64}, gen));
  Tensor out = Tensor::empty({2, 8}, DType::f32);
  try {
    linear_q8_0_kernels().get(kCPU, DType::f32)(randn({2, 32}, gen), w8, Tensor(), LinearActivation::none, out);
    FAIL() << "a 32-wide input against a 64-wide weight was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[2, 32]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
