#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <sstream>

#include "gradcheck.h"
#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optim.h"
#include "kiln/train/callbacks.h"
#include "kiln/train/checkpoint.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/prefetcher.h"
#include "kiln/train/trainer.h"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

/// Three Gaussian blobs in 4-d: an easy 3-class problem.
struct Blobs {
  Tensor x, y;
};
Blobs blobs(std::int64_t n, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<float> xs;
  std::vector<std::int64_t> ys;
  const Tensor noise = randn({n, 4}, gen);
  const std::vector<float> nz = noise.to_vector<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = i % 3;
    for (std::int64_t d = 0; d < 4; ++d) {
      xs.push_back(nz[static_cast<std::size_t>(i * 4 + d)] * 0.7F + (d == c ? 2.5F : 0.0F));
    }
    ys.push_back(c);
  }
  return {Tensor::from_vector<float>(xs, {n, 4}), Tensor::from_vector<std::int64_t>(ys, {n})};
}

std::shared_ptr<nn::Sequential> small_model(std::uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Layer>>{
      std::make_shared<nn::Linear>(4, 16, true, gen), std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.2),
      std::make_shared<nn::Linear>(16, 3, true, gen)});
}

Trainer compiled_trainer(const std::shared_ptr<nn::Sequential>& model) {
  Trainer t(model);
  t.compile(std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 1e-2}),
            objective_by_name("sparse_categorical_crossentropy"), {make_metric("accuracy", 3)});
  return t;
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("kiln_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(Trainer, FitLearnsAndLogsValidationMetrics) {
  nn::manual_seed(1);
  const Blobs data = blobs(600, 2);
  auto model = small_model(3);
  Trainer t = compiled_trainer(model);
  std::ostringstream out;
  const History h = t.fit(data.x, data.y, {.epochs = 4, .batch_size = 32, .validation_split = 0.2, .out = &out});
  ASSERT_EQ(h.epochs.size(), 4U);
  EXPECT_LT(h.epochs.back().at("loss"), h.epochs.front().at("loss"));
  EXPECT_GT(h.epochs.back().at("val_accuracy"), 0.9);
  EXPECT_EQ(h.steps, 4 * 15);  // 480 training rows / 32
  const Logs test = t.evaluate(data.x, data.y);
  EXPECT_GT(test.at("accuracy"), 0.9);
  EXPECT_EQ(t.predict(data.x, 100).shape(), (Shape{600, 3}));
  EXPECT_NE(out.str().find("epoch 4/4"), std::string::npos) << out.str();
}

TEST(Trainer, SplitTailTakesTheLastRows) {
  const Tensor x = Tensor::arange(10).to(DType::f32).reshape({10, 1});
  const SplitData s = split_tail(x, Tensor::arange(10), 0.3);
  EXPECT_EQ(s.train_x.size(0), 7);
  EXPECT_EQ(s.val_y.to_vector<std::int64_t>(), (std::vector<std::int64_t>{7, 8, 9}));
  EXPECT_THROW(split_tail(x, Tensor::arange(10), 1.0), Error);
}

TEST(Trainer, SummaryListsLayersShapesAndParameterCounts) {
  auto model = small_model(3);
  Trainer t = compiled_trainer(model);
  model->named_children()[0].second->set_trainable(false);
  const std::string s = t.summary({4});
  test::expect_contains(s, {"Layer (type)", "Output Shape", "Param #", "0 (Linear)", "(None, 16)", "80",
                            "3 (Linear)", "(None, 3)", "51", "Total params: 131", "Trainable params: 51",
                            "Non-trainable params: 80"});
}

TEST(Trainer, ClassWeightsScaleTheLoss) {
  const Blobs data = blobs(30, 4);
  auto model = small_model(5);
  Trainer t = compiled_trainer(model);
  std::vector<double> plain, weighted;
  const auto first_loss = [&](std::map<std::int64_t, double> w, std::vector<double>& into) {
    auto m = small_model(5);
    Trainer tr = compiled_trainer(m);
    tr.fit(data.x, data.y, {.epochs = 1, .batch_size = 30, .shuffle = false, .class_weight = std::move(w), .verbose = 0,
                            .on_step = [&](std::int64_t, double l) { into.push_back(l); }});
  };
  nn::manual_seed(9);
  first_loss({}, plain);
  nn::manual_seed(9);
  first_loss({{0, 3.0}, {1, 3.0}, {2, 3.0}}, weighted);
  ASSERT_EQ(plain.size(), 1U);
  EXPECT_NEAR(weighted[0], 3.0 * plain[0], 1e-5);
}

/// Raises SIGINT from inside fit() after `at` steps, as a user's Ctrl-C would.
struct InterruptAt {
  std::int64_t at;
  std::vector<double>* losses;
  void operator()(std::int64_t step, double loss) const {
    losses->push_back(loss);
    if (step + 1 == at) std::raise(SIGINT);
  }
};

TEST(Trainer, InterruptThenResumeContinuesBitForBit) {
  const fs::path dir = temp_dir("resume");
  const std::string ckpt = (dir / "ckpt.safetensors").string();
  const Blobs data = blobs(300, 6);
  const auto make_callbacks = [&] {
    return std::vector<std::shared_ptr<Callback>>{
        std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "val_loss", .patience = 50,
                                                             .restore_best_weights = true}),
        std::make_shared<LRSchedule>(
            [](optim::Optimizer& o) { return std::make_unique<optim::ExponentialLR>(o, 0.9); }, false),
        std::make_shared<CSVLogger>((dir / "log.csv").string())};
  };
  const auto options = [&](std::function<void(std::int64_t, double)> on_step, bool resume) {
    FitOptions o;
    o.epochs = 5;
    o.batch_size = 16;
    o.validation_split = 0.2;
    o.seed = 11;
    o.callbacks = make_callbacks();
    o.checkpoint_path = ckpt;
    o.resume = resume;
    o.verbose = 0;
    o.on_step = std::move(on_step);
    return o;
  };
  // Uninterrupted reference.
  std::vector<double> reference;
  nn::manual_seed(7);
  {
    auto m = small_model(8);
    Trainer t = compiled_trainer(m);
    t.fit(data.x, data.y, options([&](std::int64_t, double l) { reference.push_back(l); }, false));
  }
  ASSERT_EQ(reference.size(), 5U * 15U);
  // Interrupted in the middle of epoch 3 (step 37 of 75) ...
  std::vector<double> before;
  nn::manual_seed(7);
  {
    auto m = small_model(8);
    Trainer t = compiled_trainer(m);
    const History h = t.fit(data.x, data.y, options(InterruptAt{37, &before}, false));
    EXPECT_TRUE(h.interrupted);
  }
  clear_interrupt();
  ASSERT_EQ(before.size(), 37U);
  // ... and resumed by a fresh process-like setup: new model, optimizer, callbacks, other global RNG state.
  std::vector<double> after;
  nn::manual_seed(12345);
  auto m = small_model(99);
  Trainer t = compiled_trainer(m);
  const History h = t.fit(data.x, data.y, options([&](std::int64_t, double l) { after.push_back(l); }, true));
  EXPECT_EQ(h.resumed_at_step, 37);
  ASSERT_EQ(after.size(), reference.size() - 37);
  for (std::size_t i = 0; i < after.size(); ++i) {
    ASSERT_EQ(after[i], reference[37 + i]) << "step " << 37 + i;  // bit for bit
  }
  EXPECT_EQ(h.epochs.size(), 5U);
  fs::remove_all(dir);
}

TEST(Trainer, CheckpointsAtAnEpochsLastBatchResume) {
  // A step checkpoint or an interrupt that falls on the last batch of an
  // epoch is saved once that epoch has ended, as the start of the next one:
  // a resume then has a whole epoch to run (and metrics to report) instead of
  // none ("accuracy: no samples seen yet").
  const fs::path dir = temp_dir("epoch_edge");
  const std::string ckpt = (dir / "ckpt.safetensors").string();
  const Blobs data = blobs(300, 6);  // 240 training samples: 15 batches of 16 per epoch
  for (const bool by_interrupt : {false, true}) {
    fs::remove(ckpt);
    nn::manual_seed(7);
    std::vector<double> losses;
    {
      auto m = small_model(8);
      Trainer t = compiled_trainer(m);
      FitOptions o{.epochs = by_interrupt ? 3 : 1, .batch_size = 16, .validation_split = 0.2, .seed = 11, .verbose = 0};
      o.checkpoint_path = ckpt;
      if (by_interrupt) {
        o.on_step = InterruptAt{15, &losses};
      } else {
        o.checkpoint_every_steps = 15;
      }
      const History h = t.fit(data.x, data.y, o);
      EXPECT_EQ(h.interrupted, by_interrupt);
      EXPECT_EQ(h.epochs.size(), 1U);
    }
    clear_interrupt();
    auto m = small_model(99);
    Trainer t = compiled_trainer(m);
    FitOptions o{.epochs = 3, .batch_size = 16, .validation_split = 0.2, .seed = 11, .verbose = 0};
    o.checkpoint_path = ckpt;
    o.resume = true;
    const History h = t.fit(data.x, data.y, o);
    EXPECT_EQ(h.resumed_at_step, 15) << (by_interrupt ? "interrupt" : "step checkpoint");
    EXPECT_EQ(h.epochs.size(), 3U);  // epoch 1 from before the resume, then 2 and 3 with their metrics
  }
  fs::remove_all(dir);
}

TEST(Trainer, ResumeRefusesACheckpointOfAnotherRun) {
  const fs::path dir = temp_dir("mismatch");
  const std::string ckpt = (dir / "ckpt.safetensors").string();
  const Blobs data = blobs(60, 6);
  auto m = small_model(8);
  Trainer t = compiled_trainer(m);
  t.fit(data.x, data.y, {.epochs = 1, .batch_size = 16, .verbose = 0});
  t.save_checkpoint(ckpt, 1);
  auto other = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Layer>>{
      std::make_shared<nn::Linear>(4, 3)});
  Trainer t2 = compiled_trainer(other);
  const std::string msg = test::error_of(
      [&] { t2.fit(data.x, data.y, {.epochs = 2, .batch_size = 16, .checkpoint_path = ckpt, .resume = true, .verbose = 0}); });
  test::expect_contains(msg, {ckpt.c_str(), "unexpected"});
  fs::remove_all(dir);
}

TEST(Trainer, EarlyStoppingRestoresTheBestWeights) {
  const Blobs data = blobs(90, 6);
  auto m = small_model(8);
  Trainer t = compiled_trainer(m);
  auto es = std::make_shared<EarlyStopping>(
      EarlyStoppingOptions{.monitor = "loss", .mode = MonitorMode::max, .patience = 1, .restore_best_weights = true});
  // "max loss" is best at epoch 0 by construction, so training stops at epoch 2 and restores epoch 0's weights.
  nn::StateDict after_first;
  struct Snapshot : Callback {
    nn::StateDict* into;
    explicit Snapshot(nn::StateDict* s) : into(s) {}
    std::string name() const override { return "snapshot"; }
    void on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs&) override {
      if (epoch != 0) return;
      for (const auto& [n, v] : ctx.model.state_dict()) into->add(n, v.clone());
    }
  };
  const History h = t.fit(data.x, data.y,
                          {.epochs = 10, .batch_size = 16, .callbacks = {std::make_shared<Snapshot>(&after_first), es},
                           .verbose = 0});
  EXPECT_EQ(h.epochs.size(), 3U);
  EXPECT_EQ(es->best_epoch(), 0);
  for (const auto& [n, v] : m->state_dict()) EXPECT_EQ(v.to_vector<float>(), after_first.at(n).to_vector<float>()) << n;
}

TEST(Prefetcher, DeliversInOrderAndForwardsErrors) {
  const auto make = [](std::int64_t i) -> Batch {
    if (i == 3) throw Error("batch 3 is broken");
    return {Tensor::full({1}, static_cast<double>(i)), Tensor(), Tensor()};
  };
  Prefetcher p(make, 0, 5, 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.next().inputs.item(), i);
  test::expect_contains(test::error_of([&] { (void)p.next(); }), {"batch 3 is broken"});
  Prefetcher q(make, 0, 2, 1);
  (void)q.next();
  (void)q.next();
  test::expect_contains(test::error_of([&] { (void)q.next(); }), {"already taken"});
}

}  // namespace
}  // namespace kiln::train
