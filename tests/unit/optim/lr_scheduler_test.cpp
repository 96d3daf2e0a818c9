// Schedules per parameter group, LinearWarmupCosine's formula, and exact
// resumes from state dicts. (PyTorch's own numbers: optim_fixture_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <string>

#include "kiln/optim/optim.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

using testing::make_param;

/// A two-group SGD with base lrs 0.1 and 0.02 to hang schedules on.
struct Rig {
  Tensor a = make_param({1}, 1), b = make_param({1}, 2);
  SGD opt{std::vector<ParamGroup>{{.params = {a}}, {.params = {b}, .lr = 0.02}}, SGDOptions{.lr = 0.1}};
};

std::vector<std::pair<double, double>> run(Rig& rig, const std::function<void()>& step, int n) {
  std::vector<std::pair<double, double>> lrs;
  for (int i = 0; i < n; ++i) {
    step();
    lrs.emplace_back(rig.opt.group_lr(0), rig.opt.group_lr(1));
  }
  return lrs;
}

TEST(LRSchedulerGroups, EachGroupFollowsItsOwnBaseLr) {
  // Every group's sequence equals the schedule on a one-group optimizer with that group's lr.
  for (const double base : {0.1, 0.02}) {
    Rig rig;
    CosineAnnealingLR grouped(rig.opt, 5, 0.001);
    Tensor p = make_param({1}, 3);
    SGD single({p}, {.lr = base});
    CosineAnnealingLR alone(single, 5, 0.001);
    const std::size_t g = base == 0.1 ? 0 : 1;
    EXPECT_EQ(grouped.base_lrs(), (std::vector<double>{0.1, 0.02}));
    for (int e = 0; e < 12; ++e) {
      grouped.step();
      alone.step();
      EXPECT_EQ(rig.opt.group_lr(g), single.lr()) << "epoch " << e + 1;
    }
  }
  Rig rig;
  StepLR step(rig.opt, 2, 0.5);
  const auto lrs = run(rig, [&] { step.step(); }, 4);
  EXPECT_EQ(lrs[3], std::make_pair(0.1 * 0.5 * 0.5, 0.02 * 0.5 * 0.5));
  EXPECT_EQ(step.last_lr(1), 0.02 * 0.25);
  EXPECT_THROW(static_cast<void>(step.last_lr()), Error);  // the groups differ
}

TEST(LRSchedulerGroups, PlateauReducesEveryGroupDownToMinLr) {
  Rig rig;
  ReduceLROnPlateau plateau(rig.opt, {.factor = 0.5, .patience = 0, .min_lr = 0.015});
  plateau.step(1.0);
  plateau.step(2.0);  // worse: both groups reduced
  EXPECT_EQ(rig.opt.group_lr(0), 0.05);
  EXPECT_EQ(rig.opt.group_lr(1), 0.015);  // 0.01 would be below min_lr
  plateau.step(3.0);
  EXPECT_EQ(rig.opt.group_lr(0), 0.025);
  EXPECT_EQ(rig.opt.group_lr(1), 0.015);
}

// The documented formula, evaluated independently.
double warmup_cosine(std::int64_t t, double base, std::int64_t warmup, std::int64_t total, double start,
                     double min_factor) {
  if (t < warmup) return base * (start + (1 - start) * static_cast<double>(t + 1) / static_cast<double>(warmup));
  const double min_lr = min_factor * base;
  if (t >= total) return min_lr;
  const double progress = static_cast<double>(t - warmup) / static_cast<double>(total - warmup);
  return min_lr + (base - min_lr) * (1 + std::cos(std::numbers::pi * progress)) / 2;
}

TEST(LinearWarmupCosine, FollowsTheDocumentedFormula) {
  for (const double start : {0.0, 0.25}) {
    Rig rig;
    LinearWarmupCosine s(rig.opt, {.warmup_steps = 4, .total_steps = 10, .start_factor = start, .min_lr_factor = 0.1});
    // The lr for t = 0 is set when the schedule is made.
    EXPECT_EQ(rig.opt.group_lr(0), warmup_cosine(0, 0.1, 4, 10, start, 0.1));
    EXPECT_EQ(rig.opt.group_lr(1), warmup_cosine(0, 0.02, 4, 10, start, 0.1));
    double previous = rig.opt.group_lr(0);
    for (std::int64_t t = 1; t <= 13; ++t) {
      s.step();
      EXPECT_EQ(s.last_epoch(), t);
      EXPECT_EQ(rig.opt.group_lr(0), warmup_cosine(t, 0.1, 4, 10, start, 0.1)) << "t = " << t;
      EXPECT_EQ(rig.opt.group_lr(1), warmup_cosine(t, 0.02, 4, 10, start, 0.1)) << "t = " << t;
      if (t < 4) {
        EXPECT_GT(rig.opt.group_lr(0), previous) << "warmup rises, t = " << t;
      } else if (t > 4) {
        EXPECT_LE(rig.opt.group_lr(0), previous) << "cosine falls, t = " << t;
      }
      previous = rig.opt.group_lr(0);
    }
  }
  // The landmarks: base/W first with start_factor 0, the base at the end of warmup, min after total.
  Rig rig;
  LinearWarmupCosine s(rig.opt, {.warmup_steps = 4, .total_steps = 10, .min_lr_factor = 0.1});
  EXPECT_EQ(rig.opt.group_lr(0), 0.1 / 4);
  for (int i = 0; i < 3; ++i) s.step();
  EXPECT_EQ(rig.opt.group_lr(0), 0.1);
  s.step();
  EXPECT_NEAR(rig.opt.group_lr(0), 0.1, 1e-16);
  for (int i = 0; i < 6; ++i) s.step();
  EXPECT_EQ(rig.opt.group_lr(0), 0.1 * 0.1);
}

TEST(LinearWarmupCosine, RejectsBadOptions) {
  Rig rig;
  using O = LinearWarmupCosine::Options;
  EXPECT_THROW(LinearWarmupCosine(rig.opt, O{.total_steps = 0}), Error);
  EXPECT_THROW(LinearWarmupCosine(rig.opt, O{.warmup_steps = 11, .total_steps = 10}), Error);
  EXPECT_THROW(LinearWarmupCosine(rig.opt, O{.total_steps = 10, .start_factor = 1.5}), Error);
  EXPECT_THROW(LinearWarmupCosine(rig.opt, O{.total_steps = 10, .min_lr_factor = -0.1}), Error);
  LinearWarmupCosine no_warmup(rig.opt, O{.warmup_steps = 0, .total_steps = 10});
  EXPECT_EQ(rig.opt.group_lr(0), 0.1);  // cosine from the base at t = 0
}

// Runs `steps` schedule steps on a fresh rig, or resumes: `split` steps, save
// optimizer + schedule, new rig and schedule, load both, the rest.
using MakeSchedule = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;

std::vector<std::pair<double, double>> lrs_with_resume(const MakeSchedule& make, int steps, int split) {
  auto rig = std::make_unique<Rig>();
  auto schedule = make(rig->opt);
  std::vector<std::pair<double, double>> lrs = run(*rig, [&] { schedule->step(); }, split);
  const nn::StateDict opt_state = rig->opt.state_dict(), schedule_state = schedule->state_dict();
  rig = std::make_unique<Rig>();
  schedule = make(rig->opt);
  rig->opt.load_state_dict(opt_state);
  schedule->load_state_dict(schedule_state);
  EXPECT_EQ(schedule->last_epoch(), split);
  for (const auto& lr : run(*rig, [&] { schedule->step(); }, steps - split)) lrs.push_back(lr);
  return lrs;
}

TEST(LRSchedulerState, ResumedSchedulesContinueExactly) {
  const std::vector<std::pair<std::string, MakeSchedule>> schedules = {
      {"StepLR", [](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5); }},
      {"ExponentialLR", [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.9); }},
      {"CosineAnnealingLR", [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 7, 0.001); }},
      {"LinearWarmupCosine",
       [](Optimizer& o) {
         return std::make_unique<LinearWarmupCosine>(
             o, LinearWarmupCosine::Options{.warmup_steps = 3, .total_steps = 12, .min_lr_factor = 0.1});
       }},
  };
  for (const auto& [name, make] : schedules) {
    const auto uninterrupted = lrs_with_resume(make, 15, 15);
    for (const int split : {0, 2, 5}) {
      EXPECT_EQ(lrs_with_resume(make, 15, split), uninterrupted) << name << " resumed after " << split;
    }
  }
}

TEST(LRSchedulerState, BaseLrsComeFromTheCheckpointNotTheResumedOptimizer) {
  // Making the schedule after loading the optimizer would take the decayed lr
  // as the base; loading the schedule's state puts the true base back.
  Rig first;
  StepLR s1(first.opt, 1, 0.5);
  s1.step();
  const nn::StateDict opt_state = first.opt.state_dict(), schedule_state = s1.state_dict();
  Rig second;
  second.opt.load_state_dict(opt_state);
  StepLR s2(second.opt, 1, 0.5);
  EXPECT_EQ(s2.base_lrs(), (std::vector<double>{0.05, 0.01}));
  s2.load_state_dict(schedule_state);
  EXPECT_EQ(s2.base_lrs(), (std::vector<double>{0.1, 0.02}));
}

TEST(LRSchedulerState, LoadChecksNames) {
  Rig rig;
  StepLR s(rig.opt, 2);
  Tensor p = make_param({1}, 3);
  SGD one_group({p}, {.lr = 0.1});
  StepLR other(one_group, 2);
  try {
    s.load_state_dict(other.state_dict());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("StepLR: load_state_dict: missing 'base_lr.1'"), std::string::npos)
        << e.what();
  }
  nn::StateDict extra = s.state_dict();
  extra.add("best", Tensor::scalar(1.0, DType::f64));
  EXPECT_THROW(s.load_state_dict(extra), Error);
}

TEST(ReduceLROnPlateauState, ResumedPlateauContinuesExactly) {
  const std::vector<double> metric = {1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.4};
  const ReduceLROnPlateau::Options options{.factor = 0.5, .patience = 1, .cooldown = 2};
  const auto run_plateau = [&](std::size_t split) {
    auto rig = std::make_unique<Rig>();
    auto plateau = std::make_unique<ReduceLROnPlateau>(rig->opt, options);
    std::vector<std::pair<double, double>> lrs;
    for (std::size_t e = 0; e < metric.size(); ++e) {
      if (e == split) {
        const nn::StateDict o = rig->opt.state_dict(), p = plateau->state_dict();
        rig = std::make_unique<Rig>();
        plateau = std::make_unique<ReduceLROnPlateau>(rig->opt, options);
        rig->opt.load_state_dict(o);
        plateau->load_state_dict(p);
      }
      plateau->step(metric[e]);
      lrs.emplace_back(rig->opt.group_lr(0), rig->opt.group_lr(1));
    }
    EXPECT_EQ(plateau->last_epoch(), static_cast<std::int64_t>(metric.size()));
    return lrs;
  };
  const auto uninterrupted = run_plateau(metric.size());
  EXPECT_NE(uninterrupted.back().first, 0.1);  // the metric sequence does reduce the lr
  for (const std::size_t split : {1U, 4U, 7U}) EXPECT_EQ(run_plateau(split), uninterrupted) << split;

  Rig rig;
  ReduceLROnPlateau plateau(rig.opt, options);
  EXPECT_EQ(testing::names_of(plateau.state_dict()),
            (std::vector<std::string>{"last_epoch", "best", "num_bad_epochs", "cooldown_counter"}));
  nn::StateDict bad;
  bad.add("last_epoch", Tensor::scalar(1.0, DType::f64));
  try {
    plateau.load_state_dict(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'last_epoch' is f64[], expected a one-element i64 tensor"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing 'best'"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace kiln::optim
