// The fused update kernels: every element of long tensors (several threads,
// strip tails) against a scalar transcription of PyTorch 1.13's update, f32
// and f64, strided operands, thread-count independence and the op checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kiln/optim/fused_updates.h"
#include "kiln/optim/optim.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

using testing::make_param;
using testing::same_values;
using testing::ThreadCountGuard;

// More than two parallel chunks, and not a multiple of any strip or vector width.
constexpr std::int64_t kLong = 3 * 16384 + 261;

struct Run {
  std::vector<double> p, g, m, v, vmax;
};

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// |actual - expected| <= tol·max(1, |expected|) for every element.
void expect_close(const std::vector<double>& actual, const std::vector<double>& expected, double tol,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_LE(std::fabs(actual[i] - expected[i]), tol * std::max(1.0, std::fabs(expected[i])))
        << what << " element " << i << ": " << actual[i] << " vs " << expected[i];
  }
}

double tolerance(DType dtype) { return dtype == DType::f32 ? 2e-6 : 1e-14; }

class FusedUpdate : public ::testing::TestWithParam<DType> {};

TEST_P(FusedUpdate, AdamAmsgradWithWeightDecayMatchesTheScalarRule) {
  const DType dtype = GetParam();
  for (const bool decoupled : {false, true}) {
    const Tensor p = make_param({kLong}, 1, dtype);
    std::vector<double> ref_p = values(p), ref_m(kLong, 0.0), ref_v(kLong, 0.0), ref_vmax(kLong, 0.0);
    const double lr = 1e-2, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.1;
    std::unique_ptr<Optimizer> opt;
    if (decoupled) {
      opt = std::make_unique<AdamW>(std::vector<Tensor>{p},
                                    AdamWOptions{.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = wd,
                                                 .amsgrad = true});
    } else {
      opt = std::make_unique<Adam>(std::vector<Tensor>{p},
                                   AdamOptions{.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = wd,
                                               .amsgrad = true});
    }
    for (int t = 1; t <= 3; ++t) {
      const Tensor g = make_param({kLong}, 10 + static_cast<std::uint64_t>(t), dtype).detach();
      Tensor(p).set_grad(g);
      opt->step();
      const std::vector<double> gv = values(g);
      const double bc1 = 1 - std::pow(b1, t), bc2_sqrt = std::sqrt(1 - std::pow(b2, t));
      for (std::int64_t i = 0; i < kLong; ++i) {
        double gi = gv[i], pi = ref_p[i];
        if (decoupled) pi = pi * (1 - lr * wd);
        else gi = gi + wd * pi;
        ref_m[i] = ref_m[i] * b1 + (1 - b1) * gi;
        ref_v[i] = ref_v[i] * b2 + (1 - b2) * gi * gi;
        ref_vmax[i] = std::max(ref_vmax[i], ref_v[i]);
        ref_p[i] = pi + (-(lr / bc1)) * ref_m[i] / (std::sqrt(ref_vmax[i]) / bc2_sqrt + eps);
      }
    }
    expect_close(values(p), ref_p, tolerance(dtype), decoupled ? "AdamW" : "Adam");
    const nn::StateDict s = opt->state_dict();
    expect_close(values(s.at("state.0.max_exp_avg_sq")), ref_vmax, tolerance(dtype), "max_exp_avg_sq");
  }
}

TEST_P(FusedUpdate, SgdNesterovMatchesTheScalarRule) {
  const DType dtype = GetParam();
  const Tensor p = make_param({kLong}, 2, dtype);
  std::vector<double> ref_p = values(p), ref_buf(kLong, 0.0);
  const double lr = 0.05, mu = 0.9, wd = 0.01;
  SGD opt({p}, {.lr = lr, .momentum = mu, .weight_decay = wd, .nesterov = true});
  for (int t = 1; t <= 3; ++t) {
    const Tensor g = make_param({kLong}, 20 + static_cast<std::uint64_t>(t), dtype).detach();
    Tensor(p).set_grad(g);
    opt.step();
    const std::vector<double> gv = values(g);
    for (std::int64_t i = 0; i < kLong; ++i) {
      const double d = gv[i] + wd * ref_p[i];
      ref_buf[i] = t == 1 ? d : ref_buf[i] * mu + 1.0 * d;
      ref_p[i] = ref_p[i] + (-lr) * (d + mu * ref_buf[i]);
    }
  }
  expect_close(values(p), ref_p, tolerance(dtype), "SGD");
}

TEST_P(FusedUpdate, RmspropCenteredMomentumMatchesTheScalarRule) {
  const DType dtype = GetParam();
  const Tensor p = make_param({kLong}, 3, dtype);
  std::vector<double> ref_p = values(p), sq(kLong, 0.0), ga(kLong, 0.0), buf(kLong, 0.0);
  const double lr = 1e-3, a = 0.9, eps = 1e-8, wd = 0.01, mu = 0.5;
  RMSprop opt({p}, {.lr = lr, .alpha = a, .eps = eps, .weight_decay = wd, .momentum = mu, .centered = true});
  for (int t = 1; t <= 3; ++t) {
    const Tensor g = make_param({kLong}, 30 + static_cast<std::uint64_t>(t), dtype).detach();
    Tensor(p).set_grad(g);
    opt.step();
    const std::vector<double> gv = values(g);
    for (std::int64_t i = 0; i < kLong; ++i) {
      const double gi = gv[i] + wd * ref_p[i];
      sq[i] = sq[i] * a + (1 - a) * gi * gi;
      ga[i] = ga[i] * a + (1 - a) * gi;
      const double avg = std::sqrt(sq[i] - ga[i] * ga[i]) + eps;
      buf[i] = buf[i] * mu + gi / avg;
      ref_p[i] = ref_p[i] + (-lr) * buf[i];
    }
  }
  // Centred RMSprop divides by √(s - a²), which cancels; f32 keeps fewer digits of it.
  expect_close(values(p), ref_p, dtype == DType::f32 ? 2e-5 : 1e-12, "RMSprop");
}

TEST_P(FusedUpdate, AdagradMatchesTheScalarRule) {
  const DType dtype = GetParam();
  const Tensor p = make_param({kLong}, 4, dtype);
  std::vector<double> ref_p = values(p), sum(kLong, 0.1);
  const double lr = 0.1, decay = 0.05, eps = 1e-10, wd = 0.02;
  Adagrad opt({p}, {.lr = lr, .lr_decay = decay, .weight_decay = wd, .initial_accumulator_value = 0.1, .eps = eps});
  for (int t = 1; t <= 3; ++t) {
    const Tensor g = make_param({kLong}, 40 + static_cast<std::uint64_t>(t), dtype).detach();
    Tensor(p).set_grad(g);
    opt.step();
    const std::vector<double> gv = values(g);
    const double clr = lr / (1 + (t - 1) * decay);
    for (std::int64_t i = 0; i < kLong; ++i) {
      const double gi = gv[i] + wd * ref_p[i];
      sum[i] = sum[i] + gi * gi;
      ref_p[i] = ref_p[i] + (-clr) * gi / (std::sqrt(sum[i]) + eps);
    }
  }
  expect_close(values(p), ref_p, tolerance(dtype), "Adagrad");
}

INSTANTIATE_TEST_SUITE_P(FloatTypes, FusedUpdate, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(FusedUpdateThreads, ResultsDoNotDependOnTheThreadCount) {
  ThreadCountGuard guard;
  std::vector<Tensor> results;
  for (const int threads : {1, 2, 3}) {
    set_num_threads(threads);
    const Tensor p = make_param({kLong}, 5, DType::f32);
    Adam opt({p}, {.lr = 0.01, .weight_decay = 0.1});
    for (int t = 0; t < 2; ++t) {
      Tensor(p).set_grad(make_param({kLong}, 50 + static_cast<std::uint64_t>(t), DType::f32).detach());
      opt.step();
    }
    results.push_back(p);
  }
  EXPECT_TRUE(same_values(results[0], results[1]));
  EXPECT_TRUE(same_values(results[0], results[2]));
}

TEST(FusedUpdateOperands, StridedParameterAndGradientGiveTheContiguousResult) {
  // The parameter is a transposed view of its storage, the gradient another.
  Tensor storage = make_param({4, 6}, 6).detach();
  Tensor p = storage.t();
  p.set_requires_grad(true);
  ASSERT_FALSE(p.is_contiguous());
  const Tensor dense = p.detach().contiguous().set_requires_grad(true);
  const Tensor g = make_param({4, 6}, 7).detach();
  Adam strided({p}, {.lr = 0.1});
  Adam contiguous({dense}, {.lr = 0.1});
  for (int t = 0; t < 2; ++t) {
    p.set_grad(g.t());
    Tensor(dense).set_grad(g.t().contiguous());
    strided.step();
    contiguous.step();
  }
  EXPECT_TRUE(same_values(p.contiguous(), dense));
  EXPECT_TRUE(same_values(storage.t().contiguous(), dense));  // written through to the storage
}

TEST(FusedUpdateOperands, ChecksNameTheOpAndTheTensor) {
  const Tensor p = make_param({3}, 1), g = make_param({4}, 2).detach();
  const Tensor m = Tensor::zeros({3}, DType::f64), v = Tensor::zeros({3}, DType::f64);
  const AdamStepArgs args{.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99};
  try {
    adam_step_(p, g, m, v, Tensor(), args);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adam_step: the gradient is f64[4] but the parameter is f64[3]"),
              std::string::npos)
        << e.what();
  }
  try {
    adam_step_(p, g.slice(0, 0, 3), m, Tensor::zeros({3}, DType::f32), Tensor(), args);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adam_step: dtype mismatch"), std::string::npos) << e.what();
  }
  EXPECT_THROW(adam_step_(p, Tensor(), m, v, Tensor(), args), Error);
  EXPECT_THROW(sgd_step_(p, g.slice(0, 0, 3), Tensor(), SgdStepArgs{.lr = 0.1, .momentum = 0.9}), Error);
}

}  // namespace
}  // namespace kiln::optim
