// Parameter groups: per-group lr and weight decay, the lr accessors, and the
// errors for parameters listed twice or of unsupported dtypes.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "kiln/optim/optim.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

using testing::make_param;
using testing::same_values;

// Builds one optimizer kind from groups and the optimizer-wide lr / weight decay.
using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>, double lr, double wd)>;

const std::vector<std::pair<std::string, Factory>>& kinds() {
  static const std::vector<std::pair<std::string, Factory>> all = {
      {"SGD",
       [](std::vector<ParamGroup> g, double lr, double wd) {
         return std::make_unique<SGD>(std::move(g), SGDOptions{.lr = lr, .momentum = 0.9, .weight_decay = wd});
       }},
      {"Adam",
       [](std::vector<ParamGroup> g, double lr, double wd) {
         return std::make_unique<Adam>(std::move(g), AdamOptions{.lr = lr, .weight_decay = wd, .amsgrad = true});
       }},
      {"AdamW",
       [](std::vector<ParamGroup> g, double lr, double wd) {
         return std::make_unique<AdamW>(std::move(g), AdamWOptions{.lr = lr, .weight_decay = wd});
       }},
      {"RMSprop",
       [](std::vector<ParamGroup> g, double lr, double wd) {
         return std::make_unique<RMSprop>(
             std::move(g), RMSpropOptions{.lr = lr, .weight_decay = wd, .momentum = 0.5, .centered = true});
       }},
      {"Adagrad",
       [](std::vector<ParamGroup> g, double lr, double wd) {
         return std::make_unique<Adagrad>(std::move(g), AdagradOptions{.lr = lr, .lr_decay = 0.01, .weight_decay = wd});
       }},
  };
  return all;
}

TEST(ParamGroups, EachGroupUpdatesExactlyLikeAnOptimizerOfItsOwn) {
  for (const auto& [name, make] : kinds()) {
    const Tensor a = make_param({5, 3}, 1), b = make_param({7}, 2);
    const Tensor a2 = a.detach().clone().set_requires_grad(true), b2 = b.detach().clone().set_requires_grad(true);
    // Group 0 overrides both settings, group 1 inherits the optimizer's.
    const auto grouped = make({{.params = {a}, .lr = 0.05, .weight_decay = 0.1}, {.params = {b}}}, 0.01, 0.0);
    const auto alone_a = make({{.params = {a2}}}, 0.05, 0.1);
    const auto alone_b = make({{.params = {b2}}}, 0.01, 0.0);
    // Control: `a` under the optimizer-wide settings ends elsewhere, so the override took effect.
    const Tensor a3 = a.detach().clone().set_requires_grad(true);
    const auto a_without_override = make({{.params = {a3}}}, 0.01, 0.0);
    EXPECT_EQ(grouped->num_groups(), 2U);
    EXPECT_EQ(grouped->group_lr(0), 0.05);
    EXPECT_EQ(grouped->group_weight_decay(0), 0.1);
    EXPECT_EQ(grouped->group_lr(1), 0.01);
    EXPECT_EQ(grouped->group_weight_decay(1), 0.0);
    for (int step = 0; step < 4; ++step) {
      Generator gen(100 + static_cast<std::uint64_t>(step));
      const Tensor ga = randn({5, 3}, gen, DType::f64), gb = randn({7}, gen, DType::f64);
      Tensor(a).set_grad(ga.clone());
      Tensor(b).set_grad(gb.clone());
      Tensor(a2).set_grad(ga.clone());
      Tensor(b2).set_grad(gb.clone());
      Tensor(a3).set_grad(ga.clone());
      a_without_override->step();
      grouped->step();
      alone_a->step();
      alone_b->step();
    }
    EXPECT_TRUE(same_values(a, a2)) << name;
    EXPECT_TRUE(same_values(b, b2)) << name;
    EXPECT_FALSE(same_values(a, a3)) << name;
  }
}

TEST(ParamGroups, ParametersAreNumberedAcrossGroupsInOrder) {
  const Tensor a = make_param({2}, 1), b = make_param({3}, 2), c = make_param({4}, 3);
  SGD opt({{.params = {a, b}}, {.params = {}}, {.params = {c}, .lr = 0.5}}, {.lr = 0.1});
  ASSERT_EQ(opt.parameters().size(), 3U);
  EXPECT_EQ(opt.parameters()[2].id(), c.id());
  EXPECT_EQ(opt.group_parameters(0).size(), 2U);
  EXPECT_TRUE(opt.group_parameters(1).empty());  // an empty group is allowed (a split that came out empty)
  EXPECT_EQ(opt.group_parameters(2).front().id(), c.id());
}

TEST(ParamGroups, LrMeansAllGroups) {
  const Tensor a = make_param({2}, 1), b = make_param({3}, 2);
  Adam one({a}, {.lr = 0.01});
  EXPECT_EQ(one.lr(), 0.01);

  Adam two({{.params = {a}, .lr = 0.1}, {.params = {b}}}, {.lr = 0.01});
  try {
    static_cast<void>(two.lr());
    FAIL() << "lr() with differing groups did not throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("group_lr"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0.1"), std::string::npos) << msg;
  }
  two.set_lr(0.3);
  EXPECT_EQ(two.lr(), 0.3);
  EXPECT_EQ(two.group_lr(0), 0.3);
  EXPECT_EQ(two.group_lr(1), 0.3);
  two.set_group_lr(1, 0.2);
  EXPECT_EQ(two.group_lr(0), 0.3);
  EXPECT_EQ(two.group_lr(1), 0.2);
  EXPECT_THROW(two.set_group_lr(1, -1.0), Error);
  EXPECT_THROW(static_cast<void>(two.group_lr(2)), Error);
}

TEST(ParamGroups, AParameterInTwoGroupsIsAnErrorNamingBoth) {
  const Tensor a = make_param({2}, 1), b = make_param({3}, 2);
  try {
    SGD({{.params = {a, b}}, {.params = {b}}}, {.lr = 0.1});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("SGD: parameter 0 of group 1 f64[3] is also parameter 1 of group 0"), std::string::npos)
        << msg;
  }
  EXPECT_THROW(SGD(std::vector<ParamGroup>{{.params = {a, a}}}, {.lr = 0.1}), Error);
}

TEST(ParamGroups, RejectsBadGroupSettingsAndEmptyOptimizers) {
  const Tensor a = make_param({2}, 1);
  EXPECT_THROW(SGD({{.params = {a}, .lr = -0.1}}, {.lr = 0.1}), Error);
  EXPECT_THROW(Adam({{.params = {a}, .weight_decay = -1.0}}, {}), Error);
  EXPECT_THROW(SGD(std::vector<ParamGroup>{{.params = {}}}, {.lr = 0.1}), Error);
  EXPECT_THROW(SGD(std::vector<ParamGroup>{}, {.lr = 0.1}), Error);
}

TEST(ParamGroups, RejectsDtypesWithoutAFusedUpdateByName) {
  Tensor half = Tensor::zeros({2, 2}, DType::bf16);
  half.set_requires_grad(true);
  for (const auto& [name, make] : kinds()) {
    try {
      make({{.params = {make_param({2}, 1), half}}}, 0.1, 0.0);
      FAIL() << name << ": no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("parameter 1 (group 0, bf16[2, 2])"), std::string::npos) << msg;
      EXPECT_NE(msg.find("f32 or f64"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace kiln::optim
