// Optimizer::state_dict / load_state_dict: names, lazily created state, exact
// resumes, and errors that name the offending entries.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "kiln/optim/optim.h"
#include "optim/optim_test_util.h"

namespace kiln::optim {
namespace {

using testing::copy_params;
using testing::expect_same_params;
using testing::expect_same_state;
using testing::names_of;
using testing::TinyModel;

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)>;

// Every optimizer with every optional state tensor switched on, and two groups
// so group settings and per-group lrs are exercised too.
const std::vector<std::pair<std::string, Factory>>& kinds() {
  static const std::vector<std::pair<std::string, Factory>> all = {
      {"SGD",
       [](std::vector<ParamGroup> g) {
         return std::make_unique<SGD>(std::move(g), SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"Adam",
       [](std::vector<ParamGroup> g) {
         return std::make_unique<Adam>(std::move(g), AdamOptions{.lr = 0.01, .weight_decay = 0.01, .amsgrad = true});
       }},
      {"AdamW",
       [](std::vector<ParamGroup> g) { return std::make_unique<AdamW>(std::move(g), AdamWOptions{.lr = 0.01}); }},
      {"RMSprop",
       [](std::vector<ParamGroup> g) {
         return std::make_unique<RMSprop>(std::move(g), RMSpropOptions{.lr = 0.01, .momentum = 0.3, .centered = true});
       }},
      {"Adagrad",
       [](std::vector<ParamGroup> g) {
         return std::make_unique<Adagrad>(std::move(g), AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.1});
       }},
  };
  return all;
}

std::vector<ParamGroup> two_groups(const std::vector<Tensor>& params) {
  return {{.params = {params[0]}, .weight_decay = 0.05}, {.params = {params[1]}, .lr = 0.003}};
}

void train(const TinyModel& model, const std::vector<Tensor>& params, Optimizer& opt, int steps) {
  for (int i = 0; i < steps; ++i) {
    model.backward(params);
    opt.step();
  }
}

TEST(OptimizerState, ThreeStepsSavedAndResumedEqualSixUninterrupted) {
  for (const auto& [name, make] : kinds()) {
    const TinyModel model;
    constexpr double kLr = 0.0031234567890123457;  // set after step 3, as a schedule would; kept bit for bit
    // The uninterrupted run: 3 steps, the lr change, 3 steps.
    const std::vector<Tensor> ref = copy_params(model.params);
    const auto ref_opt = make(two_groups(ref));
    train(model, ref, *ref_opt, 3);
    ref_opt->set_group_lr(1, kLr);
    train(model, ref, *ref_opt, 3);

    // Three steps, then a checkpoint of the parameters and the optimizer.
    const std::vector<Tensor> params = copy_params(model.params);
    const auto opt = make(two_groups(params));
    train(model, params, *opt, 3);
    opt->set_group_lr(1, kLr);
    const nn::StateDict saved = opt->state_dict();
    const std::vector<Tensor> saved_params = copy_params(params);
    train(model, params, *opt, 2);  // the live optimizer moves on; the snapshot must not

    // A fresh model and optimizer resume from the checkpoint.
    const std::vector<Tensor> resumed = copy_params(saved_params);
    const auto fresh = make(two_groups(resumed));
    fresh->load_state_dict(saved);
    expect_same_state(fresh->state_dict(), saved);
    EXPECT_EQ(fresh->group_lr(1), kLr);
    train(model, resumed, *fresh, 3);

    expect_same_params(resumed, ref, name);
    expect_same_state(fresh->state_dict(), ref_opt->state_dict());
  }
}

TEST(OptimizerState, NamesListStepsLrsAndTheStateThatExists) {
  const TinyModel model;
  const std::vector<Tensor> params = copy_params(model.params);
  Adam adam(two_groups(params), {.amsgrad = true});
  EXPECT_EQ(names_of(adam.state_dict()),
            (std::vector<std::string>{"group.0.lr", "group.1.lr", "state.0.step", "state.1.step"}));
  train(model, params, adam, 1);
  EXPECT_EQ(names_of(adam.state_dict()),
            (std::vector<std::string>{"group.0.lr", "group.1.lr", "state.0.step", "state.0.exp_avg",
                                      "state.0.exp_avg_sq", "state.0.max_exp_avg_sq", "state.1.step",
                                      "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq"}));
  const nn::StateDict s = adam.state_dict();
  EXPECT_EQ(s.at("state.1.step").dtype(), DType::i64);
  EXPECT_EQ(s.at("state.1.step").item(), 1.0);
  EXPECT_EQ(s.at("group.1.lr").dtype(), DType::f64);
  EXPECT_EQ(s.at("group.1.lr").item(), 0.003);

  // Adagrad creates its accumulators eagerly, so they are listed before any step.
  Adagrad adagrad(copy_params(model.params), {});
  EXPECT_EQ(names_of(adagrad.state_dict()),
            (std::vector<std::string>{"group.0.lr", "state.0.step", "state.0.sum", "state.1.step", "state.1.sum"}));
}

TEST(OptimizerState, StateFromBeforeTheFirstStepRoundTrips) {
  for (const auto& [name, make] : kinds()) {
    const TinyModel model;
    const std::vector<Tensor> ref = copy_params(model.params), params = copy_params(model.params);
    const auto ref_opt = make(two_groups(ref));
    const auto opt = make(two_groups(params));
    const nn::StateDict before = make(two_groups(copy_params(model.params)))->state_dict();
    train(model, params, *opt, 2);  // state now exists ...
    {
      NoGradGuard no_grad;
      for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor p = params[i];
        copy_(p, model.params[i].detach());  // ... and is dropped again by loading the fresh state
      }
    }
    opt->load_state_dict(before);
    expect_same_state(opt->state_dict(), before);
    train(model, params, *opt, 3);
    train(model, ref, *ref_opt, 3);
    expect_same_params(params, ref, name);
  }
}

TEST(OptimizerState, AParameterWithoutGradientsKeepsStepZeroAndNoState) {
  const TinyModel model;
  const std::vector<Tensor> params = copy_params(model.params);
  RMSprop opt(params, {.momentum = 0.5});
  for (int i = 0; i < 2; ++i) {
    model.backward(params);
    Tensor(params[1]).zero_grad();
    opt.step();
  }
  const nn::StateDict s = opt.state_dict();
  EXPECT_EQ(names_of(s), (std::vector<std::string>{"group.0.lr", "state.0.step", "state.0.square_avg",
                                                   "state.0.momentum_buffer", "state.1.step"}));
  RMSprop fresh(copy_params(params), {.momentum = 0.5});
  fresh.load_state_dict(s);
  expect_same_state(fresh.state_dict(), s);
}

TEST(OptimizerState, LoadErrorsNameEveryBadEntryAndChangeNothing) {
  const TinyModel model;
  const std::vector<Tensor> params = copy_params(model.params);
  Adam opt(params, {.lr = 0.01});
  train(model, params, opt, 1);
  const nn::StateDict good = opt.state_dict();

  nn::StateDict bad;
  for (const auto& [name, t] : good) {
    if (name == "state.0.exp_avg") {
      bad.add(name, Tensor::zeros({4, 3}, DType::f64));                // wrong shape
    } else if (name == "state.0.exp_avg_sq") {
      bad.add(name, Tensor::zeros({3, 4}, DType::f32));                // wrong dtype
    } else if (name == "state.1.step") {
      bad.add(name, Tensor::scalar(1.0, DType::f32));                  // a step must be i64
    } else if (name != "group.0.lr") {                                 // missing
      bad.add(name, t);
    }
  }
  bad.add("state.2.step", Tensor::from_vector(std::vector<std::int64_t>{1}, {}));  // no parameter 2
  train(model, params, opt, 1);
  const nn::StateDict before = opt.state_dict();
  try {
    opt.load_state_dict(bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* part : {"Adam: load_state_dict: ", "missing 'group.0.lr'",
                             "'state.0.exp_avg' is f64[4, 3], expected f64[3, 4]",
                             "'state.0.exp_avg_sq' is f32[3, 4], expected f64[3, 4]",
                             "'state.1.step' is f32[], expected a one-element i64 tensor",
                             "unexpected 'state.2.step'"}) {
      EXPECT_NE(msg.find(part), std::string::npos) << "no \"" << part << "\" in: " << msg;
    }
  }
  expect_same_state(opt.state_dict(), before);

  // A moment for a parameter whose step is 0 cannot be placed.
  nn::StateDict early;
  early.add("group.0.lr", Tensor::scalar(0.01, DType::f64));
  early.add("state.0.step", Tensor::from_vector(std::vector<std::int64_t>{0}, {}));
  early.add("state.0.exp_avg", Tensor::zeros({3, 4}, DType::f64));
  early.add("state.1.step", Tensor::from_vector(std::vector<std::int64_t>{0}, {}));
  try {
    opt.load_state_dict(early);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected 'state.0.exp_avg': 'state.0.step' is 0"), std::string::npos)
        << e.what();
  }

  // Another optimizer's state is refused by name.
  SGD sgd(copy_params(params), {.lr = 0.1, .momentum = 0.9});
  EXPECT_THROW(sgd.load_state_dict(good), Error);
}

}  // namespace
}  // namespace kiln::optim
