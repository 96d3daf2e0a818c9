// Optimizers, clipping and schedules against trajectories PyTorch computed
// (tests/fixtures/optim-expected.*, copied from the shared reference fixtures).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kiln/io/safetensors.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optim.h"

namespace kiln::optim {
namespace {

const std::string kDir = KILN_FIXTURES_DIR;

struct Fixture {
  io::SafetensorsFile file = io::SafetensorsFile::open(kDir + "/optim-expected.safetensors");
  nlohmann::json meta = [] {
    std::ifstream in(kDir + "/optim-expected.json");
    return nlohmann::json::parse(in);
  }();
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

/// Largest |actual - expected| relative to |expected| (floored at 1e-8 so zeros don't divide).
double max_rel_error(const Tensor& actual, const Tensor& expected) {
  const auto a = actual.to_vector<double>();
  const auto e = expected.to_vector<double>();
  EXPECT_EQ(a.size(), e.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - e[i]) / std::max(std::fabs(e[i]), 1e-8));
  }
  return worst;
}

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>, const nlohmann::json& kwargs)>;

/// Feeds g0..g{steps-1} and compares the parameter after every step with <case>.p{k}.
void run_case(const std::string& name, const Factory& make) {
  const Fixture& f = fixture();
  const nlohmann::json& c = f.meta.at("cases").at(name);
  Tensor p = f.file.tensor("p0").clone();
  ASSERT_EQ(p.dtype(), DType::f64);
  p.set_requires_grad(true);
  const std::unique_ptr<Optimizer> opt = make({p}, c.at("kwargs"));
  const int steps = f.meta.at("steps").get<int>();
  for (int k = 0; k < steps; ++k) {
    p.set_grad(f.file.tensor("g" + std::to_string(k)).clone());
    opt->step();
    EXPECT_LE(max_rel_error(p, f.file.tensor(name + ".p" + std::to_string(k))), 1e-6) << name << " step " << k + 1;
  }
}

double get(const nlohmann::json& kw, const char* key, double fallback) {
  return kw.contains(key) ? kw.at(key).get<double>() : fallback;
}

std::unique_ptr<Optimizer> make_sgd(std::vector<Tensor> params, const nlohmann::json& kw) {
  return std::make_unique<SGD>(std::move(params), SGDOptions{.lr = get(kw, "lr", 1e-3),
                                                             .momentum = get(kw, "momentum", 0),
                                                             .dampening = get(kw, "dampening", 0),
                                                             .weight_decay = get(kw, "weight_decay", 0),
                                                             .nesterov = kw.value("nesterov", false)});
}

std::unique_ptr<Optimizer> make_adam(std::vector<Tensor> params, const nlohmann::json& kw) {
  AdamOptions o{.lr = get(kw, "lr", 1e-3), .eps = get(kw, "eps", 1e-8), .weight_decay = get(kw, "weight_decay", 0),
                .amsgrad = kw.value("amsgrad", false)};
  if (kw.contains("betas")) {
    o.beta1 = kw.at("betas").at(0).get<double>();
    o.beta2 = kw.at("betas").at(1).get<double>();
  }
  return std::make_unique<Adam>(std::move(params), o);
}

TEST(OptimFixture, SGDPlain) { run_case("sgd", make_sgd); }
TEST(OptimFixture, SGDMomentum) { run_case("sgd_momentum", make_sgd); }
TEST(OptimFixture, SGDNesterovWeightDecay) { run_case("sgd_nesterov_wd", make_sgd); }
TEST(OptimFixture, SGDDampening) { run_case("sgd_dampening", make_sgd); }
TEST(OptimFixture, Adam) { run_case("adam", make_adam); }
TEST(OptimFixture, AdamWeightDecayAMSGrad) { run_case("adam_wd_amsgrad", make_adam); }

TEST(OptimFixture, AdamW) {
  run_case("adamw", [](std::vector<Tensor> params, const nlohmann::json& kw) {
    return std::make_unique<AdamW>(std::move(params),
                                   AdamWOptions{.lr = get(kw, "lr", 1e-3), .weight_decay = get(kw, "weight_decay", 1e-2)});
  });
}

std::unique_ptr<Optimizer> make_rmsprop(std::vector<Tensor> params, const nlohmann::json& kw) {
  return std::make_unique<RMSprop>(std::move(params), RMSpropOptions{.lr = get(kw, "lr", 1e-2),
                                                                     .alpha = get(kw, "alpha", 0.99),
                                                                     .eps = get(kw, "eps", 1e-8),
                                                                     .weight_decay = get(kw, "weight_decay", 0),
                                                                     .momentum = get(kw, "momentum", 0),
                                                                     .centered = kw.value("centered", false)});
}

TEST(OptimFixture, RMSprop) { run_case("rmsprop", make_rmsprop); }
TEST(OptimFixture, RMSpropCenteredMomentumWeightDecay) { run_case("rmsprop_momentum_centered", make_rmsprop); }

TEST(OptimFixture, AdagradLrDecay) {
  run_case("adagrad", [](std::vector<Tensor> params, const nlohmann::json& kw) {
    return std::make_unique<Adagrad>(
        std::move(params), AdagradOptions{.lr = get(kw, "lr", 1e-2),
                                          .lr_decay = get(kw, "lr_decay", 0),
                                          .weight_decay = get(kw, "weight_decay", 0),
                                          .initial_accumulator_value = get(kw, "initial_accumulator_value", 0)});
  });
}

TEST(OptimFixture, ClipGradNorm) {
  const Fixture& f = fixture();
  Tensor a = Tensor::zeros({4}, DType::f64), b = Tensor::zeros({2, 3}, DType::f64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  a.set_grad(f.file.tensor("clip.ga").clone());
  b.set_grad(f.file.tensor("clip.gb").clone());
  const double total = clip_grad_norm_({a, b}, f.meta.at("clip").at("max_norm").get<double>());
  EXPECT_NEAR(total, f.meta.at("clip").at("total_norm").get<double>(), 1e-9);
  EXPECT_LE(max_rel_error(a.grad(), f.file.tensor("clip.ga_clipped")), 1e-6);
  EXPECT_LE(max_rel_error(b.grad(), f.file.tensor("clip.gb_clipped")), 1e-6);
}

/// A one-parameter SGD to hang a schedule on.
struct ScheduleRig {
  Tensor p = Tensor::zeros({1}, DType::f64);
  SGD opt{{p}, SGDOptions{.lr = fixture().meta.at("schedules").at("base_lr").get<double>()}};
};

void expect_schedule(const std::string& key, ScheduleRig& rig, const std::function<void(int)>& step) {
  const auto expected = fixture().meta.at("schedules").at(key).get<std::vector<double>>();
  for (std::size_t e = 0; e < expected.size(); ++e) {
    step(static_cast<int>(e));
    EXPECT_NEAR(rig.opt.lr(), expected[e], 1e-12) << key << " epoch " << e + 1;
  }
}

TEST(OptimFixture, StepLR) {
  ScheduleRig rig;
  StepLR s(rig.opt, 3, 0.5);
  expect_schedule("step(step_size=3,gamma=0.5)", rig, [&](int) { s.step(); });
}

TEST(OptimFixture, ExponentialLR) {
  ScheduleRig rig;
  ExponentialLR s(rig.opt, 0.9);
  expect_schedule("exponential(gamma=0.9)", rig, [&](int) { s.step(); });
}

TEST(OptimFixture, CosineAnnealingLR) {
  ScheduleRig rig;
  CosineAnnealingLR s(rig.opt, 10, 0.001);
  expect_schedule("cosine(T_max=10,eta_min=0.001)", rig, [&](int) { s.step(); });
}

TEST(OptimFixture, ReduceLROnPlateau) {
  ScheduleRig rig;
  ReduceLROnPlateau s(rig.opt, {.mode = ReduceLROnPlateau::Mode::min, .factor = 0.5, .patience = 2});
  const auto metric = fixture().meta.at("schedules").at("plateau_metric").get<std::vector<double>>();
  expect_schedule("reduce_on_plateau(factor=0.5,patience=2,mode=min)", rig,
                  [&](int e) { s.step(metric[static_cast<std::size_t>(e)]); });
}

}  // namespace
}  // namespace kiln::optim
