#include "kiln/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <sstream>

#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/clip_grad.h"
#include "kiln/train/checkpoint.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/prefetcher.h"
#include "kiln/train/progress.h"

namespace kiln::train {

namespace {

/// Per-sample weights [B] for integer targets from a class -> weight map (host
/// side; runs on the prefetch thread, never in the step).
Tensor class_weights_for(const Tensor& targets, const std::map<std::int64_t, double>& class_weight) {
  if (targets.dim() != 1 || (targets.dtype() != DType::i64 && targets.dtype() != DType::i32)) {
    throw Error("fit: class_weight needs integer class targets [N], got " + targets.str());
  }
  const std::vector<std::int64_t> labels = targets.to_vector<std::int64_t>();
  std::vector<float> w(labels.size(), 1.0F);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto it = class_weight.find(labels[i]);
    if (it != class_weight.end()) w[i] = static_cast<float>(it->second);
  }
  return Tensor::from_vector<float>(w, {static_cast<std::int64_t>(w.size())});
}

std::string format_logs(const Logs& logs) {
  std::string s;
  char buf[96];
  // Keras prints the training metrics first, then the validation ones.
  for (const bool val : {false, true}) {
    for (const auto& [name, v] : logs) {
      if ((name.rfind("val_", 0) == 0) != val) continue;
      std::snprintf(buf, sizeof buf, "%s%s %.4f", s.empty() ? "" : "  ", name.c_str(), v);
      s += buf;
    }
  }
  return s;
}

nlohmann::json logs_to_json(const std::vector<Logs>& epochs) {
  nlohmann::json a = nlohmann::json::array();
  for (const Logs& l : epochs) a.push_back(l);
  return a;
}

}  // namespace


Trainer::Trainer(std::shared_ptr<nn::Layer> model) : model_(std::move(model)) {
  if (!model_) throw Error("Trainer: model is null");
}

void Trainer::compile(std::unique_ptr<optim::Optimizer> optimizer, Objective objective,
                      std::vector<std::shared_ptr<Metric>> metrics) {
  if (!optimizer) throw Error("Trainer::compile: optimizer is null");
  if (!objective.per_sample) throw Error("Trainer::compile: objective '" + objective.name + "' has no loss function");
  for (const auto& m : metrics) {
    if (!m) throw Error("Trainer::compile: a metric is null");
  }
  optimizer_ = std::move(optimizer);
  objective_ = std::move(objective);
  metrics_ = std::move(metrics);
}

optim::Optimizer& Trainer::optimizer() {
  check_compiled("optimizer");
  return *optimizer_;
}

void Trainer::check_compiled(const char* what) const {
  if (!optimizer_) throw Error(std::string("Trainer::") + what + ": call compile() first");
}

Tensor Trainer::batch_loss(const Tensor& output, const Batch& batch) const {
  const Tensor per = objective_.per_sample(output, batch.targets);
  if (per.dim() != 1 || per.size(0) != output.size(0)) {
    throw Error("loss '" + objective_.name + "' gave " + per.str() + " per-sample losses for a batch of " +
                std::to_string(output.size(0)));
  }
  if (!batch.weights.defined()) return mean(per);
  // Keras: weighted losses averaged over the batch size.
  return div(sum(mul(per, batch.weights.to(per.dtype()))), static_cast<double>(per.size(0)));
}

SplitData split_tail(const Tensor& x, const Tensor& y, double fraction) {
  if (!(fraction > 0.0 && fraction < 1.0)) {
    throw Error("validation_split must be in (0, 1), got " + std::to_string(fraction));
  }
  const std::int64_t n = x.size(0);
  const auto n_val = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(n) * fraction));
  if (n_val >= n) {
    throw Error("validation_split " + std::to_string(fraction) + " of " + std::to_string(n) +
                " samples leaves none for training");
  }
  return {x.slice(0, 0, n - n_val), y.slice(0, 0, n - n_val), x.slice(0, n - n_val, n), y.slice(0, n - n_val, n)};
}

History Trainer::fit(const Tensor& x, const Tensor& y, const FitOptions& o) {
  check_compiled("fit");
  if (o.epochs <= 0) throw Error("fit: epochs must be positive, got " + std::to_string(o.epochs));
  if (o.batch_size <= 0) throw Error("fit: batch_size must be positive, got " + std::to_string(o.batch_size));
  if (!x.defined() || !y.defined() || x.dim() == 0 || y.dim() == 0 || x.size(0) != y.size(0)) {
    throw Error("fit: x " + (x.defined() ? x.str() : std::string("undefined")) + " and y " +
                (y.defined() ? y.str() : std::string("undefined")) + " must hold the same number of samples");
  }
  if (o.resume && o.checkpoint_path.empty()) throw Error("fit: resume needs checkpoint_path");
  std::ostream& out = o.out != nullptr ? *o.out : std::cout;

  Tensor train_x = x, train_y = y, val_x = o.validation_x, val_y = o.validation_y;
  if (!val_x.defined() && o.validation_split > 0.0) {
    SplitData s = split_tail(x, y, o.validation_split);
    train_x = s.train_x, train_y = s.train_y, val_x = s.val_x, val_y = s.val_y;
  }
  DataLoader loader(train_x, train_y, {.batch_size = o.batch_size, .shuffle = o.shuffle, .seed = o.seed});
  const std::int64_t steps_per_epoch = loader.num_batches();

  callbacks_ = o.callbacks;
  history_ = History{};
  RunState run;
  run.seed = o.seed;
  run.batch_size = o.batch_size;
  run.num_samples = loader.num_samples();
  last_run_ = run;
  if (o.resume) {
    load_run_checkpoint(o.checkpoint_path, run);
    history_.resumed_at_step = run.step;
    if (o.verbose > 0) {
      out << "resumed from " << o.checkpoint_path << " at epoch " << run.epoch + 1 << ", batch " << run.next_batch
          << " (step " << run.step << ")" << std::endl;
    }
  }

  TrainContext ctx{*model_, *optimizer_, o.epochs, steps_per_epoch, false, {}};
  ctx.save_checkpoint = [&](const std::string& path) {
    // Called at epoch end: the next epoch starts from its first batch.
    RunState next = run;
    next.epoch = run.epoch + 1;
    next.next_batch = 0;
    next.epoch_loss_sum = 0.0;
    next.epoch_batches = 0;
    save_run_checkpoint(path, next);
  };
  for (const auto& cb : callbacks_) cb->on_train_begin(ctx);

  const bool interactive = o.verbose == 1 && o.out == nullptr && isatty(STDOUT_FILENO) == 1;
  ProgressReporter progress(out, {.epochs = o.epochs,
                                  .steps_per_epoch = steps_per_epoch,
                                  .interactive = interactive,
                                  .log_every = o.log_every});
  const InterruptGuard interrupts;  // SIGINT/SIGTERM set a flag checked after each step

  for (; run.epoch < o.epochs && !ctx.stop_training; ++run.epoch) {
    // A step checkpoint due at the epoch's last batch waits for the epoch's end:
    // saved before it, a resume would find no batch left and no metric state
    // to finish the epoch with.
    bool checkpoint_at_epoch_end = false;
    bool interrupted_at_epoch_end = false;  // the same for Ctrl-C during the last batch
    for (const auto& cb : callbacks_) cb->on_epoch_begin(ctx, run.epoch);
    loader.start_epoch(run.epoch);
    for (const auto& m : metrics_) m->reset();
    if (o.verbose == 1) progress.start_epoch(run.epoch + 1, run.next_batch);
    model_->train();

    const std::int64_t epoch = run.epoch;
    Prefetcher batches(
        [&, epoch](std::int64_t b) {
          Batch batch = loader.batch(b);
          if (o.augment) {
            // One generator per (seed, epoch, batch): resume-proof and thread-count-proof.
            Generator gen(o.seed ^ 0x9e3779b97f4a7c15ULL);
            gen.set_state(gen.seed(), (static_cast<std::uint64_t>(epoch) << 44) | (static_cast<std::uint64_t>(b) << 24));
            batch.inputs = o.augment(batch.inputs, gen);
          }
          if (!o.class_weight.empty()) batch.weights = class_weights_for(batch.targets, o.class_weight);
          return batch;
        },
        run.next_batch, steps_per_epoch, o.prefetch);

    for (std::int64_t b = run.next_batch; b < steps_per_epoch; ++b) {
      const Batch batch = batches.next();
      double loss_value = 0.0;
      {
        // Scoped so the output, the loss and the whole graph of this step are
        // gone before the next step allocates.
        optimizer_->zero_grad();
        const Tensor output = (*model_)(batch.inputs);
        const Tensor loss = batch_loss(output, batch);
        loss.backward();
        if (o.clip_grad_norm > 0.0) optim::clip_grad_norm_(optimizer_->parameters(), o.clip_grad_norm);
        optimizer_->step();
        loss_value = loss.item();
        if (!std::isfinite(loss_value)) {
          throw Error("fit: loss became " + std::to_string(loss_value) + " at epoch " + std::to_string(run.epoch + 1) +
                      ", batch " + std::to_string(b + 1) + " (try a smaller learning rate or gradient clipping)");
        }
        NoGradGuard no_grad;
        const Tensor detached = output.detach();
        for (const auto& m : metrics_) m->update(detached, batch.targets);
      }
      run.next_batch = b + 1;
      ++run.step;
      run.epoch_loss_sum += loss_value;
      ++run.epoch_batches;
      ++history_.steps;
      if (o.on_step) o.on_step(run.step - 1, loss_value);
      for (const auto& cb : callbacks_) cb->on_batch_end(ctx, run.step - 1, loss_value);
      if (o.verbose == 1) {
        Logs running{{"loss", run.epoch_loss_sum / static_cast<double>(run.epoch_batches)}};
        for (const auto& m : metrics_) {
          for (const auto& [name, v] : m->result()) running[name] = v;
        }
        progress.update(b + 1, running, batch.inputs.size(0));
      }
      if (interrupt_requested() && b + 1 == steps_per_epoch) {
        interrupted_at_epoch_end = true;  // finish this epoch's logs first, then save and stop (below)
      } else if (interrupt_requested()) {
        if (o.verbose > 0) progress.abort_line();
        if (o.checkpoint_path.empty()) {
          out << "interrupted at epoch " << run.epoch + 1 << ", batch " << b + 1
              << "; no checkpoint_path was set, so nothing was saved" << std::endl;
        } else {
          save_run_checkpoint(o.checkpoint_path, run);
          out << "interrupted at epoch " << run.epoch + 1 << ", batch " << b + 1 << ": checkpoint saved to "
              << o.checkpoint_path << " (continue with --resume)" << std::endl;
        }
        history_.interrupted = true;
        for (const auto& cb : callbacks_) cb->on_train_end(ctx);
        return history_;
      }
      if (o.checkpoint_every_steps > 0 && run.step % o.checkpoint_every_steps == 0 && !o.checkpoint_path.empty()) {
        if (b + 1 < steps_per_epoch) {
          save_run_checkpoint(o.checkpoint_path, run);
        } else {
          checkpoint_at_epoch_end = true;
        }
      }
    }

    Logs logs{{"loss", run.epoch_batches > 0 ? run.epoch_loss_sum / static_cast<double>(run.epoch_batches) : 0.0}};
    for (const auto& m : metrics_) {
      for (const auto& [name, v] : m->result()) logs[name] = v;
    }
    const EpochStats stats = o.verbose == 1 ? progress.end_epoch() : EpochStats{};
    if (val_x.defined()) {
      for (const auto& [name, v] : evaluate(val_x, val_y, std::max<std::int64_t>(o.batch_size, 256))) {
        logs["val_" + name] = v;
      }
    }
    logs["lr"] = optimizer_->group_lr(0);
    history_.epochs.push_back(logs);
    if (o.verbose > 0) {
      char head[96];
      std::snprintf(head, sizeof head, "epoch %lld/%lld", static_cast<long long>(run.epoch + 1),
                    static_cast<long long>(o.epochs));
      out << head;
      if (o.verbose == 1) {
        std::snprintf(head, sizeof head, " (%.2f s, %.0f samples/s)", stats.seconds, stats.samples_per_second);
        out << head;
      }
      out << ": " << format_logs(logs) << std::endl;
    }
    for (const auto& cb : callbacks_) cb->on_epoch_end(ctx, run.epoch, logs);
    if ((checkpoint_at_epoch_end || interrupted_at_epoch_end) && !o.checkpoint_path.empty()) {
      ctx.save_checkpoint(o.checkpoint_path);  // as "next epoch, first batch"
    }
    if (interrupted_at_epoch_end) {
      out << "interrupted at the end of epoch " << run.epoch + 1
          << (o.checkpoint_path.empty() ? "; no checkpoint_path was set, so nothing was saved"
                                        : ": checkpoint saved to " + o.checkpoint_path + " (continue with --resume)")
          << std::endl;
      history_.interrupted = true;
      for (const auto& cb : callbacks_) cb->on_train_end(ctx);
      return history_;
    }
    run.next_batch = 0;
    run.epoch_loss_sum = 0.0;
    run.epoch_batches = 0;
  }
  for (const auto& cb : callbacks_) cb->on_train_end(ctx);
  return history_;
}

Logs Trainer::evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size) {
  check_compiled("evaluate");
  if (batch_size <= 0) throw Error("evaluate: batch_size must be positive, got " + std::to_string(batch_size));
  if (!x.defined() || !y.defined() || x.dim() == 0 || y.dim() == 0 || x.size(0) != y.size(0)) {
    throw Error("evaluate: x and y must hold the same number of samples");
  }
  const bool was_training = model_->is_training();
  model_->eval();
  NoGradGuard no_grad;
  std::vector<std::shared_ptr<Metric>> metrics = metrics_;
  for (const auto& m : metrics) m->reset();
  double loss_sum = 0.0;
  const std::int64_t n = x.size(0);
  for (std::int64_t b = 0; b < n; b += batch_size) {
    const std::int64_t e = std::min(n, b + batch_size);
    const Batch batch{x.slice(0, b, e).contiguous(), y.slice(0, b, e).contiguous(), Tensor()};
    const Tensor output = (*model_)(batch.inputs);
    loss_sum += sum(objective_.per_sample(output, batch.targets)).item();
    for (const auto& m : metrics) m->update(output, batch.targets);
  }
  model_->train(was_training);
  Logs logs{{"loss", loss_sum / static_cast<double>(n)}};
  for (const auto& m : metrics) {
    for (const auto& [name, v] : m->result()) logs[name] = v;
  }
  return logs;
}

Tensor Trainer::predict(const Tensor& x, std::int64_t batch_size) {
  if (batch_size <= 0) throw Error("predict: batch_size must be positive, got " + std::to_string(batch_size));
  if (!x.defined() || x.dim() == 0) throw Error("predict: x needs a leading sample dimension");
  const bool was_training = model_->is_training();
  model_->eval();
  NoGradGuard no_grad;
  std::vector<Tensor> outs;
  for (std::int64_t b = 0; b < x.size(0); b += batch_size) {
    outs.push_back((*model_)(x.slice(0, b, std::min(x.size(0), b + batch_size)).contiguous()));
  }
  model_->train(was_training);
  return outs.size() == 1 ? outs[0] : concat(outs, 0);
}

std::string Trainer::summary(const Shape& input_shape, DType dtype) {
  // One forward pass on a zero batch of 2 (BatchNorm needs more than one value
  // per channel in training mode; eval mode avoids touching running stats).
  Shape shape{2};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  const bool was_training = model_->is_training();
  model_->eval();
  nn::CallRecorder recorder;
  {
    NoGradGuard no_grad;
    (void)(*model_)(Tensor::zeros(shape, dtype));
  }
  model_->train(was_training);

  // The path of every module, to name recorded calls.
  std::map<const nn::Module*, std::string> paths;
  model_->for_each_module([&](const std::string& path, const nn::Module& m) { paths[&m] = path; });
  const auto shape_text = [](const Shape& s) {
    std::string t = "(None";
    for (std::size_t i = 1; i < s.size(); ++i) t += ", " + std::to_string(s[i]);
    return t + ")";
  };
  struct Row {
    std::string layer, shape, params;
  };
  std::vector<Row> rows;
  for (const nn::CallRecorder::Call& call : recorder.calls()) {
    if (call.module == model_.get()) continue;  // the model itself is the table, not a row
    const auto it = paths.find(call.module);
    // Only the model's direct children are rows, as in Keras (nested layers count in their parent).
    if (it == paths.end() || it->second.find('.') != std::string::npos) continue;
    std::string shapes;
    for (const Shape& s : call.output_shapes) shapes += (shapes.empty() ? "" : ", ") + shape_text(s);
    rows.push_back({it->second + " (" + call.module->type_name() + ")", shapes,
                    std::to_string(call.module->num_parameters())});
  }
  std::size_t w0 = std::string("Layer (type)").size();
  std::size_t w1 = std::string("Output Shape").size();
  std::size_t w2 = 7;
  for (const Row& r : rows) {
    w0 = std::max(w0, r.layer.size());
    w1 = std::max(w1, r.shape.size());
    w2 = std::max(w2, r.params.size());
  }
  w0 += 3, w1 += 3;
  const std::size_t width = w0 + w1 + w2;
  std::ostringstream s;
  const auto pad = [](const std::string& t, std::size_t w) { return t + std::string(w > t.size() ? w - t.size() : 0, ' '); };
  s << "Model: \"" << model_->type_name() << "\"\n" << std::string(width, '_') << "\n";
  s << pad("Layer (type)", w0) << pad("Output Shape", w1) << "Param #\n" << std::string(width, '=') << "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    s << pad(rows[i].layer, w0) << pad(rows[i].shape, w1) << rows[i].params << "\n";
    s << std::string(width, i + 1 == rows.size() ? '=' : '_') << "\n";
  }
  if (rows.empty()) s << std::string(width, '=') << "\n";
  const std::int64_t total = model_->num_parameters(), trainable = model_->num_parameters(true);
  s << "Total params: " << total << "\nTrainable params: " << trainable
    << "\nNon-trainable params: " << total - trainable << "\n" << std::string(width, '_') << "\n";
  return s.str();
}

// ---- checkpoints ------------------------------------------------------------

void Trainer::save_checkpoint(const std::string& path, std::int64_t next_epoch, std::int64_t next_batch) {
  check_compiled("save_checkpoint");
  RunState run = last_run_;
  run.epoch = next_epoch;
  run.next_batch = next_batch;
  run.step = history_.steps;
  run.epoch_loss_sum = 0.0;
  run.epoch_batches = 0;
  save_run_checkpoint(path, run);
}

void Trainer::save_run_checkpoint(const std::string& path, const RunState& run) {
  nn::StateDict tensors;
  tensors.merge(model_->state_dict(), "model.");
  tensors.merge(optimizer_->state_dict(), "optimizer.");
  nlohmann::json callbacks = nlohmann::json::object();
  for (const auto& cb : callbacks_) {
    nn::StateDict cb_tensors;
    callbacks[cb->name()] = cb->save_state(cb_tensors);
    tensors.merge(cb_tensors, "callback." + cb->name() + ".");
  }
  const Generator& g = nn::default_generator();
  const nlohmann::json state = {
      {"epoch", run.epoch},
      {"next_batch", run.next_batch},
      {"step", run.step},
      {"seed", run.seed},
      {"batch_size", run.batch_size},
      {"num_samples", run.num_samples},
      {"epoch_loss_sum", run.epoch_loss_sum},
      {"epoch_batches", run.epoch_batches},
      {"default_generator", {{"seed", g.seed()}, {"offset", g.offset()}}},
      {"history", logs_to_json(history_.epochs)},
      {"callbacks", callbacks},
      {"model", model_->name()},
  };
  train::save_checkpoint(path, tensors, state);
}

void Trainer::load_run_checkpoint(const std::string& path, RunState& run) {
  const Checkpoint ckpt = load_checkpoint(path);
  const nlohmann::json& s = ckpt.state;
  const auto field = [&](const char* key) -> const nlohmann::json& {
    if (!s.contains(key)) throw Error("checkpoint '" + path + "': state field '" + key + "' is missing");
    return s.at(key);
  };
  try {
    const auto batch_size = field("batch_size").get<std::int64_t>();
    const auto num_samples = field("num_samples").get<std::int64_t>();
    const auto seed = field("seed").get<std::uint64_t>();
    if (batch_size != run.batch_size || num_samples != run.num_samples || seed != run.seed) {
      throw Error("checkpoint '" + path + "' was written by a run with batch size " + std::to_string(batch_size) +
                  ", " + std::to_string(num_samples) + " training samples and seed " + std::to_string(seed) +
                  "; this run has " + std::to_string(run.batch_size) + ", " + std::to_string(run.num_samples) +
                  " and " + std::to_string(run.seed) + ": resuming would not continue the same run");
    }
    // Load every part before touching anything, so a bad file changes nothing.
    const nn::StateDict model_state = ckpt.tensors.with_prefix_removed("model.");
    const nn::StateDict optim_state = ckpt.tensors.with_prefix_removed("optimizer.");
    try {
      model_->load_state_dict(model_state);
    } catch (const Error& e) {
      throw Error("checkpoint '" + path + "': " + e.what());
    }
    try {
      optimizer_->load_state_dict(optim_state);
    } catch (const Error& e) {
      throw Error("checkpoint '" + path + "': optimizer: " + e.what());
    }
    const nlohmann::json& callbacks = field("callbacks");
    for (const auto& cb : callbacks_) {
      if (!callbacks.contains(cb->name())) {
        throw Error("checkpoint '" + path + "' holds no state for callback " + cb->name());
      }
      cb->load_state(callbacks.at(cb->name()), ckpt.tensors.with_prefix_removed("callback." + cb->name() + "."));
    }
    const nlohmann::json& g = field("default_generator");
    nn::default_generator().set_state(g.at("seed").get<std::uint64_t>(), g.at("offset").get<std::uint64_t>());
    run.epoch = field("epoch").get<std::int64_t>();
    run.next_batch = field("next_batch").get<std::int64_t>();
    run.step = field("step").get<std::int64_t>();
    run.epoch_loss_sum = field("epoch_loss_sum").get<double>();
    run.epoch_batches = field("epoch_batches").get<std::int64_t>();
    history_.steps = run.step;
    for (const auto& l : field("history")) history_.epochs.push_back(l.get<Logs>());
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint '" + path + "': malformed training state: " + e.what());
  }
}

}  // namespace kiln::train
