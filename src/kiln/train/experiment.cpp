#include "kiln/train/experiment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "kiln/core/parallel.h"
#include "kiln/io/idx.h"
#include "kiln/io/safetensors.h"
#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optim.h"
#include "kiln/train/augment.h"
#include "kiln/train/bert_experiment.h"
#include "kiln/train/callbacks.h"
#include "kiln/train/curves_callback.h"
#include "kiln/train/datasets.h"
#include "kiln/train/gan_experiment.h"
#include "kiln/train/lm_experiment.h"
#include "kiln/train/model_builder.h"
#include "kiln/train/pretrained_classifier.h"
#include "kiln/train/trainer.h"
#include "kiln/train/vae_experiment.h"

namespace kiln::train {

namespace {

namespace fs = std::filesystem;

/// An empty table for optional config sections (Nodes view a tree they do not own).
const nlohmann::json& empty_table() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

/// Everything a classification config describes, built and ready to train.
struct Classification {
  LabeledData data;
  Shape sample_shape;
  DType input_dtype = DType::f32;
  std::shared_ptr<nn::Layer> model;
  std::string pretrained;  ///< what the body was loaded from (transfer learning), else empty
  AugmentOptions augment;
  std::optional<Normalization> normalization;
};

LabeledData load_data(const config::Node& d, const RunOverrides& ov, const PretrainedClassifier* pretrained) {
  const std::string dataset = d.at("dataset").as_string();
  const std::int64_t limit = ov.limit.value_or(d.get_int("limit", 0));
  if (pretrained != nullptr && dataset != "fortunes") {
    d.at("dataset").fail("a pretrained text model (model.pretrained) needs a text data set (fortunes), not '" + dataset + "'");
  }
  if (dataset == "fashion-mnist") {
    d.allow_only({"dataset", "path", "layout", "limit", "normalize", "augment"});
    const std::string path = ov.data_path.value_or(d.get_string("path", "/usr/share/datasets/fashion-mnist"));
    ImageLayout layout = ImageLayout::flat;
    if (const auto l = d.find("layout")) {
      try {
        layout = image_layout_from_name(l->as_string());
      } catch (const Error& e) {
        l->fail(e.what());
      }
    }
    return load_fashion_mnist_data(path, layout, limit);
  }
  if (dataset == "fortunes") {
    d.allow_only({"dataset", "path", "limit", "categories", "num_words", "maxlen", "representation", "matrix_mode",
                  "shuffle_seed"});
    FortuneTextOptions o;
    o.dir = ov.data_path.value_or(d.get_string("path", o.dir.string()));
    o.categories = d.at("categories").as_string_list();
    o.num_words = d.get_int("num_words", o.num_words);
    o.maxlen = d.get_int("maxlen", o.maxlen);
    const std::string rep = d.get_string("representation", "sequences");
    if (rep != "sequences" && rep != "bag_of_words") d.at("representation").fail("must be \"sequences\" or \"bag_of_words\"");
    o.bag_of_words = rep == "bag_of_words";
    o.matrix_mode = d.get_string("matrix_mode", o.matrix_mode);
    o.shuffle_seed = static_cast<std::uint64_t>(d.get_int("shuffle_seed", static_cast<std::int64_t>(o.shuffle_seed)));
    o.limit_per_category = limit;
    if (pretrained != nullptr) {
      for (const char* k : {"num_words", "representation", "matrix_mode"}) {
        if (d.has(k)) d.at(k).fail("does not apply with a pretrained model: texts use the model's own tokenizer");
      }
      o.maxlen = d.get_int("maxlen", std::min<std::int64_t>(128, pretrained->max_positions));
      if (o.maxlen < 2 || o.maxlen > pretrained->max_positions) {
        d.at("maxlen").fail("is " + std::to_string(o.maxlen) + "; the pretrained model takes 2 to " +
                            std::to_string(pretrained->max_positions) + " tokens");
      }
      o.encode = pretrained->encode;
      o.pad_id = pretrained->pad_id;
    }
    return load_fortune_classification(o);
  }
  d.at("dataset").fail("unknown dataset '" + dataset + "' (available: fashion-mnist, fortunes)");
}

std::unique_ptr<optim::Optimizer> make_optimizer(const config::Node& o, std::vector<Tensor> params) {
  const std::string name = o.get_string("name", "adam");
  const double lr = o.get_double("lr", 1e-3);
  const double wd = o.get_double("weight_decay", 0.0);
  if (name == "adam" || name == "adamw") {
    o.allow_only({"name", "lr", "weight_decay", "beta1", "beta2", "eps", "amsgrad", "clip_grad_norm"});
    const optim::AdamOptions a{.lr = lr,
                               .beta1 = o.get_double("beta1", 0.9),
                               .beta2 = o.get_double("beta2", 0.999),
                               .eps = o.get_double("eps", 1e-8),
                               .weight_decay = wd,
                               .amsgrad = o.get_bool("amsgrad", false)};
    if (name == "adam") return std::make_unique<optim::Adam>(std::move(params), a);
    return std::make_unique<optim::AdamW>(
        std::move(params), optim::AdamWOptions{.lr = a.lr, .beta1 = a.beta1, .beta2 = a.beta2, .eps = a.eps,
                                               .weight_decay = o.get_double("weight_decay", 1e-2), .amsgrad = a.amsgrad});
  }
  if (name == "sgd") {
    o.allow_only({"name", "lr", "weight_decay", "momentum", "dampening", "nesterov", "clip_grad_norm"});
    return std::make_unique<optim::SGD>(std::move(params), optim::SGDOptions{.lr = lr,
                                                                              .momentum = o.get_double("momentum", 0.0),
                                                                              .dampening = o.get_double("dampening", 0.0),
                                                                              .weight_decay = wd,
                                                                              .nesterov = o.get_bool("nesterov", false)});
  }
  if (name == "rmsprop") {
    o.allow_only({"name", "lr", "weight_decay", "alpha", "eps", "momentum", "centered", "clip_grad_norm"});
    return std::make_unique<optim::RMSprop>(std::move(params), optim::RMSpropOptions{.lr = lr,
                                                                                      .alpha = o.get_double("alpha", 0.99),
                                                                                      .eps = o.get_double("eps", 1e-8),
                                                                                      .weight_decay = wd,
                                                                                      .momentum = o.get_double("momentum", 0.0),
                                                                                      .centered = o.get_bool("centered", false)});
  }
  if (name == "adagrad") {
    o.allow_only({"name", "lr", "weight_decay", "eps", "clip_grad_norm"});
    return std::make_unique<optim::Adagrad>(std::move(params),
                                            optim::AdagradOptions{.lr = lr, .weight_decay = wd, .eps = o.get_double("eps", 1e-10)});
  }
  o.at("name").fail("unknown optimizer '" + name + "' (available: sgd, adam, adamw, rmsprop, adagrad)");
}

std::shared_ptr<Callback> make_schedule(const config::Node& s, std::int64_t steps_per_epoch, std::int64_t epochs) {
  const std::string name = s.at("name").as_string();
  if (name == "step") {
    s.allow_only({"name", "step_size", "gamma"});
    const std::int64_t step = s.at("step_size").as_int();
    const double gamma = s.get_double("gamma", 0.1);
    return std::make_shared<LRSchedule>(
        [=](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, step, gamma); }, false);
  }
  if (name == "exponential") {
    s.allow_only({"name", "gamma"});
    const double gamma = s.at("gamma").as_double();
    return std::make_shared<LRSchedule>(
        [=](optim::Optimizer& o) { return std::make_unique<optim::ExponentialLR>(o, gamma); }, false);
  }
  if (name == "cosine") {
    s.allow_only({"name", "t_max", "eta_min"});
    const std::int64_t t_max = s.get_int("t_max", epochs);
    const double eta_min = s.get_double("eta_min", 0.0);
    return std::make_shared<LRSchedule>(
        [=](optim::Optimizer& o) { return std::make_unique<optim::CosineAnnealingLR>(o, t_max, eta_min); }, false);
  }
  if (name == "warmup_cosine") {
    s.allow_only({"name", "warmup_steps", "min_lr_factor", "start_factor"});
    if (s.get_int("warmup_steps", 0) > steps_per_epoch * epochs) {
      s.at("warmup_steps").fail("is " + std::to_string(s.get_int("warmup_steps", 0)) + ", more than the run's " +
                                std::to_string(steps_per_epoch * epochs) + " steps (" + std::to_string(epochs) +
                                " epochs of " + std::to_string(steps_per_epoch) + ")");
    }
    const optim::LinearWarmupCosine::Options opt{.warmup_steps = s.get_int("warmup_steps", 0),
                                                 .total_steps = steps_per_epoch * epochs,
                                                 .start_factor = s.get_double("start_factor", 0.0),
                                                 .min_lr_factor = s.get_double("min_lr_factor", 0.0)};
    return std::make_shared<LRSchedule>(
        [=](optim::Optimizer& o) { return std::make_unique<optim::LinearWarmupCosine>(o, opt); }, true);
  }
  if (name == "plateau") {
    s.allow_only({"name", "monitor", "factor", "patience", "min_lr", "mode"});
    optim::ReduceLROnPlateau::Options o;
    o.factor = s.get_double("factor", 0.1);
    o.patience = s.get_int("patience", 10);
    o.min_lr = s.get_double("min_lr", 0.0);
    const std::string mode = s.get_string("mode", "min");
    if (mode != "min" && mode != "max") s.at("mode").fail("must be \"min\" or \"max\"");
    o.mode = mode == "min" ? optim::ReduceLROnPlateau::Mode::min : optim::ReduceLROnPlateau::Mode::max;
    return std::make_shared<LRSchedule>(o, s.get_string("monitor", "val_loss"));
  }
  s.at("name").fail("unknown schedule '" + name + "' (available: step, exponential, cosine, warmup_cosine, plateau)");
}

MonitorMode monitor_mode(const config::Node& n, const char* key) {
  const std::string m = n.get_string(key, "auto");
  if (m == "auto") return MonitorMode::auto_;
  if (m == "min") return MonitorMode::min;
  if (m == "max") return MonitorMode::max;
  n.at(key).fail("must be \"auto\", \"min\" or \"max\"");
}

std::map<std::int64_t, double> class_weights(const config::Node& fit, const Tensor& labels, std::int64_t classes) {
  std::map<std::int64_t, double> w;
  const auto node = fit.find("class_weight");
  if (!node) return w;
  if (node->is_string()) {
    if (node->as_string() != "balanced") node->fail("must be \"balanced\" or a table of class index = weight");
    // scikit-learn's "balanced": n_samples / (n_classes · count(class)).
    std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
    for (const std::int64_t y : labels.to_vector<std::int64_t>()) ++counts[static_cast<std::size_t>(y)];
    const double n = static_cast<double>(labels.numel());
    for (std::int64_t c = 0; c < classes; ++c) {
      if (counts[static_cast<std::size_t>(c)] > 0) {
        w[c] = n / (static_cast<double>(classes) * static_cast<double>(counts[static_cast<std::size_t>(c)]));
      }
    }
    return w;
  }
  if (!node->is_table()) node->fail("must be \"balanced\" or a table of class index = weight");
  for (std::int64_t c = 0; c < classes; ++c) {
    if (const auto v = node->find(std::to_string(c))) w[c] = v->as_double();
  }
  std::vector<std::string> known;
  for (std::int64_t c = 0; c < classes; ++c) known.push_back(std::to_string(c));
  node->allow_only(known);
  return w;
}

/// Majority class and its accuracy / macro-F1 on the test set (the baseline a
/// classifier must beat).
std::pair<double, double> majority_baseline(const Tensor& train_y, const Tensor& test_y, std::int64_t classes) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
  for (const std::int64_t y : train_y.to_vector<std::int64_t>()) ++counts[static_cast<std::size_t>(y)];
  const auto majority = std::max_element(counts.begin(), counts.end()) - counts.begin();
  const std::vector<std::int64_t> test = test_y.to_vector<std::int64_t>();
  const auto hits = std::count(test.begin(), test.end(), majority);
  const double acc = static_cast<double>(hits) / static_cast<double>(test.size());
  // Only the majority class has a non-zero F1: 2·P·R/(P+R) with P = acc, R = 1.
  const double f1 = hits == 0 ? 0.0 : 2.0 * acc / (acc + 1.0);
  return {acc, f1 / static_cast<double>(classes)};
}

fs::path output_dir_of(const config::Node& root, const RunOverrides& ov) {
  const fs::path dir = ov.output_dir.value_or(root.get_string("output_dir", "runs/" + root.get_string("name", "run")));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("output directory '" + dir.string() + "': cannot create it: " + ec.message());
  return dir;
}

Classification build_classification(const config::Node& root, const RunOverrides& ov, Generator& init_gen,
                                    bool for_training) {
  Classification c;
  const config::Node data = root.at("data");
  const config::Node model = root.at("model");
  std::optional<PretrainedClassifier> pretrained;
  if (model.has("pretrained")) {
    // Transfer learning: the body (and its tokenizer) come from a pretrained model.
    model.allow_only({"pretrained", "freeze_body", "dropout", "from_scratch"});
    if (!data.has("categories")) data.fail("needs categories (the classes) for a pretrained text classifier");
    PretrainedClassifierOptions po;
    po.dir = model.at("pretrained").as_string();
    po.num_classes = static_cast<std::int64_t>(data.at("categories").as_string_list().size());
    po.freeze_body = model.get_bool("freeze_body", false);
    po.dropout = model.get_double("dropout", 0.1);
    po.from_scratch = model.get_bool("from_scratch", false);
    try {
      pretrained = load_pretrained_classifier(po, init_gen);
    } catch (const Error& e) {
      model.at("pretrained").fail(e.what());
    }
  }
  c.data = load_data(data, ov, pretrained ? &*pretrained : nullptr);
  if (const auto n = data.find("normalize"); n && n->as_bool()) {
    c.normalization = image_statistics(c.data.train_x);
    c.data.train_x = normalize_images(c.data.train_x, *c.normalization);
    c.data.test_x = normalize_images(c.data.test_x, *c.normalization);
  }
  if (const auto a = data.find("augment"); a && for_training) {
    a->allow_only({"max_shift", "horizontal_flip", "crop_padding"});
    c.augment = {.max_shift = a->get_int("max_shift", 0),
                 .horizontal_flip = a->get_bool("horizontal_flip", false),
                 .crop_padding = a->get_int("crop_padding", 0)};
  }
  c.sample_shape.assign(c.data.train_x.shape().begin() + 1, c.data.train_x.shape().end());
  c.input_dtype = c.data.train_x.dtype();
  if (pretrained) {
    c.model = pretrained->model;
    c.pretrained = pretrained->description + (model.get_bool("freeze_body", false) ? ", body frozen" : "");
  } else {
    model.allow_only({"layers"});
    c.model = build_sequential(model.at("layers"), c.sample_shape, c.input_dtype, init_gen);
  }
  return c;
}

std::vector<std::shared_ptr<Metric>> make_metrics(const config::Node& fit, std::int64_t classes) {
  std::vector<std::shared_ptr<Metric>> metrics;
  const std::vector<std::string> names =
      fit.has("metrics") ? fit.at("metrics").as_string_list() : std::vector<std::string>{"accuracy"};
  for (const std::string& m : names) {
    try {
      metrics.push_back(make_metric(m, classes));
    } catch (const Error& e) {
      fit.at("metrics").fail(e.what());
    }
  }
  return metrics;
}

void print_test(std::ostream& out, const std::map<std::string, double>& test) {
  out << "test:";
  char buf[96];
  for (const auto& [k, v] : test) {
    std::snprintf(buf, sizeof buf, "  %s %.4f", k.c_str(), v);
    out << buf;
  }
  out << std::endl;
}

RunResult run_classification(const config::Document& doc, const RunOverrides& ov) {
  const config::Node root = doc.root();
  root.allow_only({"name", "task", "output_dir", "seed", "threads", "data", "model", "optimizer", "schedule", "fit",
                   "callbacks"});
  if (const auto t = root.find("threads"); t && t->as_int() > 0) set_num_threads(static_cast<int>(t->as_int()));
  const auto seed = ov.seed.value_or(static_cast<std::uint64_t>(root.get_int("seed", 0)));
  nn::manual_seed(seed);
  Generator init_gen(seed);
  Classification c = build_classification(root, ov, init_gen, true);
  const fs::path dir = output_dir_of(root, ov);
  const auto classes = static_cast<std::int64_t>(c.data.class_names.size());
  std::ostream& out = std::cout;

  const config::Node fit = root.at("fit");
  fit.allow_only({"epochs", "batch_size", "validation_split", "shuffle", "class_weight", "loss", "metrics",
                  "checkpoint_every_steps", "log_every", "prefetch"});
  const std::string loss_name = fit.get_string("loss", "sparse_categorical_crossentropy");
  Objective objective;
  try {
    objective = objective_by_name(loss_name);
  } catch (const Error& e) {
    fit.at("loss").fail(e.what());
  }
  const config::Node opt = root.has("optimizer") ? root.at("optimizer") : config::Node(empty_table(), "optimizer", doc.root().file());
  Trainer trainer(c.model);
  trainer.compile(make_optimizer(opt, c.model->parameters()), objective, make_metrics(fit, classes));

  out << "data: " << c.data.train_x.size(0) << " training and " << c.data.test_x.size(0) << " test samples, "
      << classes << " classes; input " << c.data.train_x.str() << "\n";
  if (c.pretrained.empty()) {
    out << trainer.summary(c.sample_shape, c.input_dtype) << std::flush;
  } else {
    std::int64_t trainable = 0;
    for (const Tensor& p : c.model->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
    out << "model: classification head on " << c.pretrained << "\n"
        << "parameters: " << c.model->num_parameters() << " (" << trainable << " trainable)" << std::endl;
  }

  FitOptions fo;
  fo.epochs = ov.epochs.value_or(fit.get_int("epochs", 1));
  fo.batch_size = fit.get_int("batch_size", 32);
  fo.validation_split = fit.get_double("validation_split", 0.0);
  fo.shuffle = fit.get_bool("shuffle", true);
  fo.seed = seed;
  fo.class_weight = class_weights(fit, c.data.train_y, classes);
  fo.clip_grad_norm = opt.get_double("clip_grad_norm", 0.0);
  fo.checkpoint_path = (dir / "checkpoint.safetensors").string();
  fo.checkpoint_every_steps =
      ov.checkpoint_every_steps >= 0 ? ov.checkpoint_every_steps : fit.get_int("checkpoint_every_steps", 0);
  fo.resume = ov.resume;
  fo.log_every = ov.log_every > 0 ? ov.log_every : fit.get_int("log_every", 100);
  fo.prefetch = fit.get_int("prefetch", 2);
  if (c.augment.any()) {
    const AugmentOptions a = c.augment;
    fo.augment = [a](const Tensor& x, Generator& gen) { return augment_images(x, a, gen); };
  }
  const std::int64_t n_train = fo.validation_split > 0.0
                                   ? c.data.train_x.size(0) - std::max<std::int64_t>(1, static_cast<std::int64_t>(
                                                                  static_cast<double>(c.data.train_x.size(0)) * fo.validation_split))
                                   : c.data.train_x.size(0);
  const std::int64_t steps_per_epoch = (n_train + fo.batch_size - 1) / fo.batch_size;

  fo.callbacks.push_back(std::make_shared<CSVLogger>((dir / "log.csv").string()));
  fo.callbacks.push_back(std::make_shared<JsonlLogger>((dir / "log.jsonl").string()));
  fo.callbacks.push_back(std::make_shared<CurvesPlot>(dir, "curves", root.get_string("name", "run")));
  if (const auto s = root.find("schedule")) fo.callbacks.push_back(make_schedule(*s, steps_per_epoch, fo.epochs));
  std::shared_ptr<ModelCheckpoint> best;
  if (const auto cbs = root.find("callbacks")) {
    cbs->allow_only({"early_stopping", "model_checkpoint"});
    if (const auto e = cbs->find("early_stopping")) {
      e->allow_only({"monitor", "patience", "min_delta", "mode", "restore_best_weights"});
      fo.callbacks.push_back(std::make_shared<EarlyStopping>(EarlyStoppingOptions{
          .monitor = e->get_string("monitor", "val_loss"),
          .mode = monitor_mode(*e, "mode"),
          .min_delta = e->get_double("min_delta", 0.0),
          .patience = e->get_int("patience", 0),
          .restore_best_weights = e->get_bool("restore_best_weights", false)}));
    }
    if (const auto m = cbs->find("model_checkpoint")) {
      m->allow_only({"monitor", "mode", "save_best_only"});
      best = std::make_shared<ModelCheckpoint>(ModelCheckpointOptions{.path = (dir / "best.safetensors").string(),
                                                                      .monitor = m->get_string("monitor", "val_loss"),
                                                                      .mode = monitor_mode(*m, "mode"),
                                                                      .save_best_only = m->get_bool("save_best_only", true)});
      fo.callbacks.push_back(best);
    }
  }
  // The config travels with the run so `kiln eval` and other tools can rebuild the model.
  {
    std::ofstream copy(dir / ("config" + fs::path(root.file()).extension().string()));
    std::ifstream src(root.file(), std::ios::binary);
    copy << src.rdbuf();
  }

  const History h = trainer.fit(c.data.train_x, c.data.train_y, fo);
  RunResult result;
  result.output_dir = dir;
  result.interrupted = h.interrupted;
  if (h.interrupted) return result;

  io::save_safetensors(dir / "model.safetensors", c.model->state_dict().entries(), {{"kiln.model", c.model->name()}});
  result.test = trainer.evaluate(c.data.test_x, c.data.test_y);
  const auto [base_acc, base_f1] = majority_baseline(c.data.train_y, c.data.test_y, classes);
  result.test["majority_accuracy"] = base_acc;
  result.test["majority_macro_f1"] = base_f1;
  print_test(out, result.test);
  out << "outputs in " << dir.string() << ": model.safetensors, checkpoint.safetensors, log.csv, log.jsonl, curves_*.png"
      << std::endl;
  return result;
}

/// The config's model with the weights of its finished run (output_dir/model.safetensors).
Classification load_trained(const config::Node& root, const RunOverrides& ov, fs::path& dir) {
  Generator init_gen(0);
  Classification c = build_classification(root, ov, init_gen, false);
  dir = ov.output_dir.value_or(root.get_string("output_dir", "runs/" + root.get_string("name", "run")));
  const fs::path weights = dir / "model.safetensors";
  const io::SafetensorsFile file = io::SafetensorsFile::open(weights);
  nn::StateDict state;
  for (const auto& e : file.entries()) state.add(e.name, file.tensor(e.name));
  try {
    c.model->load_state_dict(state);
  } catch (const Error& e) {
    throw Error("model '" + weights.string() + "' does not fit the config's model: " + e.what());
  }
  c.model->eval();
  return c;
}

RunResult evaluate_classification(const config::Document& doc, const RunOverrides& ov) {
  const config::Node root = doc.root();
  fs::path dir;
  Classification c = load_trained(root, ov, dir);
  const config::Node fit = root.at("fit");
  Trainer trainer(c.model);
  trainer.compile(make_optimizer(config::Node(empty_table(), "optimizer", root.file()), c.model->parameters()),
                  objective_by_name(fit.get_string("loss", "sparse_categorical_crossentropy")),
                  make_metrics(fit, static_cast<std::int64_t>(c.data.class_names.size())));
  RunResult r;
  r.output_dir = dir;
  r.test = trainer.evaluate(c.data.test_x, c.data.test_y);
  print_test(std::cout, r.test);
  return r;
}

std::string task_of(const config::Document& doc) {
  const std::string task = doc.root().get_string("task", "classify");
  if (task != "classify" && task != "vae" && task != "gan" && task != "lm" && task != "bert") {
    doc.root().at("task").fail("unknown task '" + task + "' (available: classify, vae, gan, lm, bert)");
  }
  return task;
}

}  // namespace

RunResult run_experiment(const config::Document& config, const RunOverrides& overrides) {
  const std::string task = task_of(config);
  if (task == "vae") return run_vae_experiment(config, overrides);
  if (task == "gan") return run_gan_experiment(config, overrides);
  if (task == "lm") return run_lm_experiment(config, overrides);
  if (task == "bert") return run_bert_experiment(config, overrides);
  return run_classification(config, overrides);
}

void predict_experiment(const config::Document& config, const RunOverrides& overrides, const std::string& input,
                        std::ostream& out) {
  const std::string task = task_of(config);
  if (task != "classify") config.root().at("task").fail("kiln predict supports classification configs, not task '" + task + "'");
  fs::path dir;
  Classification c = load_trained(config.root(), overrides, dir);
  Tensor x;
  if (c.data.prepare_images) {
    const io::IdxArray idx = io::read_idx(input);
    if (idx.type_code != 0x08 || idx.dims.size() != 3) {
      throw Error("predict input '" + input + "': expected an IDX file of u8 images [N, 28, 28], got type 0x" +
                  std::to_string(idx.type_code) + " with " + std::to_string(idx.dims.size()) + " dimensions");
    }
    x = c.data.prepare_images(Tensor::from_vector<std::uint8_t>(idx.data, idx.dims));
    if (c.normalization) x = normalize_images(x, *c.normalization);
  } else {
    std::vector<std::string> texts;
    std::ifstream file;
    if (input != "-") {
      file.open(input);
      if (!file) throw Error("predict input '" + input + "': cannot be opened");
    }
    std::istream& in = input == "-" ? std::cin : file;
    for (std::string line; std::getline(in, line);) texts.push_back(line);
    if (texts.empty()) throw Error("predict input '" + input + "': no texts (one per line)");
    x = c.data.prepare_texts(texts);
  }
  NoGradGuard no_grad;
  const std::vector<float> probs = softmax((*c.model)(x), -1).to_vector<float>();
  const auto classes = static_cast<std::int64_t>(c.data.class_names.size());
  char buf[64];
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    const float* p = probs.data() + i * classes;
    const auto best = std::max_element(p, p + classes) - p;
    std::snprintf(buf, sizeof buf, "\t%.4f", static_cast<double>(p[best]));
    out << i << "\t" << c.data.class_names[static_cast<std::size_t>(best)] << buf << "\n";
  }
}

RunResult evaluate_experiment(const config::Document& config, const RunOverrides& overrides) {
  const std::string task = task_of(config);
  if (task == "lm") return evaluate_lm_experiment(config, overrides);
  if (task == "bert") return evaluate_bert_experiment(config, overrides);
  if (task != "classify") config.root().at("task").fail("kiln eval supports classification, lm and bert configs; task '" + task + "' reports its test figures at the end of training");
  return evaluate_classification(config, overrides);
}

}  // namespace kiln::train
