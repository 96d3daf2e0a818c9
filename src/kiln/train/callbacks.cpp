#include "kiln/train/callbacks.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "kiln/ops/ops.h"

namespace kiln::train {

namespace {

bool maximize_for(const std::string& name, MonitorMode mode) {
  if (mode != MonitorMode::auto_) return mode == MonitorMode::max;
  for (const char* up : {"acc", "auc", "f1", "precision", "recall"}) {
    if (name.find(up) != std::string::npos) return true;
  }
  return false;
}

/// Keeps the first `n` lines of a log file (drops epochs logged after the
/// checkpoint a run resumes from); a missing file is fine when n == 0.
void keep_first_lines(const std::string& path, std::int64_t n) {
  std::ifstream in(path);
  if (!in) {
    if (n == 0) return;
    throw Error("log '" + path + "': cannot reopen it to resume (it had " + std::to_string(n) + " lines)");
  }
  std::string kept, line;
  for (std::int64_t i = 0; i < n && std::getline(in, line); ++i) kept += line + "\n";
  in.close();
  std::ofstream out(path, std::ios::trunc);
  out << kept;
  if (!out) throw Error("log '" + path + "': cannot rewrite it to resume");
}

std::ofstream open_log(const std::string& path, bool append) {
  std::ofstream f(path, append ? std::ios::app : std::ios::trunc);
  if (!f) throw Error("log '" + path + "': cannot open for writing");
  return f;
}

}  // namespace

// ---- Monitor ------------------------------------------------------------------

Monitor::Monitor(std::string name, MonitorMode mode, double min_delta)
    : name_(std::move(name)), maximize_(maximize_for(name_, mode)), min_delta_(std::fabs(min_delta)) {
  if (name_.empty()) throw Error("monitor: metric name is empty");
}

double Monitor::value(const Logs& logs) const {
  const auto it = logs.find(name_);
  if (it == logs.end()) {
    std::string known;
    for (const auto& [k, v] : logs) known += (known.empty() ? "" : ", ") + k;
    throw Error("monitored metric '" + name_ + "' is not logged (logged: " + known +
                "; val_ metrics need validation data)");
  }
  return it->second;
}

bool Monitor::improves(double v) const {
  if (!best) return true;
  return maximize_ ? v - min_delta_ > *best : v + min_delta_ < *best;
}

// ---- EarlyStopping ------------------------------------------------------------

EarlyStopping::EarlyStopping(const EarlyStoppingOptions& options)
    : opt_(options), monitor_(options.monitor, options.mode, options.min_delta) {
  if (opt_.patience < 0) throw Error("EarlyStopping: patience must be >= 0, got " + std::to_string(opt_.patience));
}

void EarlyStopping::on_train_begin(TrainContext& /*ctx*/) { stopped_epoch_ = -1; }

void EarlyStopping::on_epoch_end(TrainContext& ctx, std::int64_t epoch, const Logs& logs) {
  const double v = monitor_.value(logs);
  if (monitor_.improves(v)) {
    monitor_.best = v;
    best_epoch_ = epoch;
    wait_ = 0;
    if (opt_.restore_best_weights) {
      NoGradGuard no_grad;
      nn::StateDict copy;
      for (const auto& [name, t] : ctx.model.state_dict()) copy.add(name, t.clone());
      best_weights_ = std::move(copy);
    }
    return;
  }
  if (++wait_ > opt_.patience) {
    stopped_epoch_ = epoch;
    ctx.stop_training = true;
  }
}

void EarlyStopping::on_train_end(TrainContext& ctx) {
  if (opt_.restore_best_weights && stopped_epoch_ >= 0 && !best_weights_.empty()) {
    ctx.model.load_state_dict(best_weights_);
  }
}

nlohmann::json EarlyStopping::save_state(nn::StateDict& tensors) const {
  if (opt_.restore_best_weights) tensors.merge(best_weights_, "best.");
  nlohmann::json s = {{"wait", wait_}, {"best_epoch", best_epoch_}};
  if (monitor_.best) s["best"] = *monitor_.best;
  return s;
}

void EarlyStopping::load_state(const nlohmann::json& state, const nn::StateDict& tensors) {
  wait_ = state.at("wait").get<std::int64_t>();
  best_epoch_ = state.at("best_epoch").get<std::int64_t>();
  monitor_.best.reset();
  if (state.contains("best")) monitor_.best = state.at("best").get<double>();
  best_weights_ = nn::StateDict();
  NoGradGuard no_grad;
  for (const auto& [name, t] : tensors.with_prefix_removed("best.")) best_weights_.add(name, t.clone());
}

// ---- ModelCheckpoint ----------------------------------------------------------

ModelCheckpoint::ModelCheckpoint(const ModelCheckpointOptions& options)
    : opt_(options), monitor_(options.monitor, options.mode, 0.0) {
  if (opt_.path.empty()) throw Error("ModelCheckpoint: path is empty");
}

void ModelCheckpoint::on_epoch_end(TrainContext& ctx, std::int64_t /*epoch*/, const Logs& logs) {
  if (opt_.save_best_only) {
    const double v = monitor_.value(logs);
    if (!monitor_.improves(v)) return;
    monitor_.best = v;
  }
  ++saves_;
  ctx.save_checkpoint(opt_.path);
}

nlohmann::json ModelCheckpoint::save_state(nn::StateDict& /*tensors*/) const {
  nlohmann::json s = {{"saves", saves_}};
  if (monitor_.best) s["best"] = *monitor_.best;
  return s;
}

void ModelCheckpoint::load_state(const nlohmann::json& state, const nn::StateDict& /*tensors*/) {
  saves_ = state.at("saves").get<std::int64_t>();
  monitor_.best.reset();
  if (state.contains("best")) monitor_.best = state.at("best").get<double>();
}

// ---- LRSchedule ---------------------------------------------------------------

LRSchedule::LRSchedule(MakeScheduler make, bool per_step) : make_(std::move(make)), per_step_(per_step) {
  if (!make_) throw Error("LRSchedule: no schedule given");
}

LRSchedule::LRSchedule(optim::ReduceLROnPlateau::Options options, std::string monitor)
    : plateau_options_(options), monitor_(std::move(monitor)) {
  if (monitor_.empty()) throw Error("LRSchedule: ReduceLROnPlateau needs a monitored metric");
}

void LRSchedule::ensure_built(optim::Optimizer& optimizer) {
  if (scheduler_ || plateau_) return;
  if (plateau_options_) {
    plateau_ = std::make_unique<optim::ReduceLROnPlateau>(optimizer, *plateau_options_);
  } else {
    scheduler_ = make_(optimizer);
    if (!scheduler_) throw Error("LRSchedule: the schedule factory returned nothing");
  }
  if (pending_state_) {
    if (scheduler_) scheduler_->load_state_dict(*pending_state_);
    if (plateau_) plateau_->load_state_dict(*pending_state_);
    pending_state_.reset();
  }
}

void LRSchedule::on_train_begin(TrainContext& ctx) { ensure_built(ctx.optimizer); }

void LRSchedule::on_batch_end(TrainContext& /*ctx*/, std::int64_t /*step*/, double /*loss*/) {
  if (per_step_ && scheduler_) scheduler_->step();
}

void LRSchedule::on_epoch_end(TrainContext& /*ctx*/, std::int64_t /*epoch*/, const Logs& logs) {
  if (plateau_) {
    const auto it = logs.find(monitor_);
    if (it == logs.end()) throw Error("LRSchedule: monitored metric '" + monitor_ + "' is not logged");
    plateau_->step(it->second);
  } else if (!per_step_ && scheduler_) {
    scheduler_->step();
  }
}

nlohmann::json LRSchedule::save_state(nn::StateDict& tensors) const {
  if (scheduler_) tensors.merge(scheduler_->state_dict());
  if (plateau_) tensors.merge(plateau_->state_dict());
  return nlohmann::json::object();
}

void LRSchedule::load_state(const nlohmann::json& /*state*/, const nn::StateDict& tensors) {
  if (scheduler_) {
    scheduler_->load_state_dict(tensors);
  } else if (plateau_) {
    plateau_->load_state_dict(tensors);
  } else {
    pending_state_ = tensors;
  }
}

// ---- CSV and JSONL logs ---------------------------------------------------------

EpochLogFile::EpochLogFile(std::string path, const char* what, std::int64_t header_lines)
    : path_(std::move(path)), header_lines_(header_lines) {
  if (path_.empty()) throw Error(std::string(what) + ": path is empty");
}

void EpochLogFile::on_train_begin(TrainContext& /*ctx*/) {
  if (resumed_) {
    keep_first_lines(path_, epochs_logged_ == 0 ? 0 : epochs_logged_ + header_lines_);
  } else {
    open_log(path_, false);  // truncate: a fresh run starts a fresh log
  }
}

void EpochLogFile::on_epoch_end(TrainContext& /*ctx*/, std::int64_t epoch, const Logs& logs) {
  std::ofstream f = open_log(path_, true);
  f << format_epoch(epoch, logs, epochs_logged_ == 0);
  if (!f) throw Error("log '" + path_ + "': write failed");
  ++epochs_logged_;
}

nlohmann::json EpochLogFile::save_state(nn::StateDict& /*tensors*/) const { return {{"epochs_logged", epochs_logged_}}; }

void EpochLogFile::load_state(const nlohmann::json& state, const nn::StateDict& /*tensors*/) {
  epochs_logged_ = state.at("epochs_logged").get<std::int64_t>();
  resumed_ = true;
}

std::string CSVLogger::format_epoch(std::int64_t epoch, const Logs& logs, bool first) const {
  std::string text;
  if (first) {
    text = "epoch";
    for (const auto& [k, v] : logs) text += "," + k;
    text += "\n";
  }
  text += std::to_string(epoch + 1);
  char buf[64];
  for (const auto& [k, v] : logs) {
    std::snprintf(buf, sizeof buf, ",%.9g", v);
    text += buf;
  }
  return text + "\n";
}

std::string JsonlLogger::format_epoch(std::int64_t epoch, const Logs& logs, bool /*first*/) const {
  nlohmann::json j = {{"epoch", epoch + 1}};
  for (const auto& [k, v] : logs) j[k] = v;
  return j.dump() + "\n";
}

}  // namespace kiln::train
