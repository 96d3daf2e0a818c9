#include "kiln/train/progress.h"

#include <cstdio>
#include <string>

#include "kiln/core/error.h"

namespace kiln::train {

ProgressReporter::ProgressReporter(std::ostream& out, const ProgressOptions& options) : out_(out), opt_(options) {
  if (opt_.epochs <= 0 || opt_.steps_per_epoch <= 0) {
    throw Error("ProgressReporter: epochs and steps_per_epoch must be positive");
  }
  if (opt_.log_every <= 0) throw Error("ProgressReporter: log_every must be positive, got " + std::to_string(opt_.log_every));
}

void ProgressReporter::start_epoch(std::int64_t epoch, std::int64_t first_step) {
  epoch_ = epoch;
  step_ = first_step;
  first_step_ = first_step;
  running_.clear();
  samples_ = 0;
  loss_sum_ = 0.0;
  last_printed_step_ = 0;
  last_width_ = 0;
  epoch_start_ = Clock::now();
  last_draw_ = epoch_start_;
}

void ProgressReporter::update(std::int64_t step, const std::map<std::string, double>& running,
                              std::int64_t samples) {
  running_ = running;
  update(step, 0.0, samples);
}

void ProgressReporter::abort_line() {
  if (opt_.interactive && last_width_ > 0) out_ << '\n';
  out_.flush();
}

void ProgressReporter::update(std::int64_t step, double loss, std::int64_t samples) {
  step_ = step;
  samples_ += samples;
  loss_sum_ += loss;
  if (opt_.interactive) {
    // Redrawing every step would flood a slow terminal; 10 times a second is plenty.
    const auto now = Clock::now();
    if (step == opt_.steps_per_epoch || now - last_draw_ >= std::chrono::milliseconds(100) || step == 1) {
      last_draw_ = now;
      print_status();
    }
  } else if (step % opt_.log_every == 0) {
    print_status();
  }
}

EpochStats ProgressReporter::end_epoch() {
  const double seconds = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  if (opt_.interactive) {
    if (last_printed_step_ != step_) print_status();
    out_ << '\n';
  } else if (last_printed_step_ != step_) {
    print_status();
  }
  out_.flush();
  const std::int64_t done = step_ - first_step_;
  if (done > 0) seconds_per_step_ = seconds / static_cast<double>(done);
  EpochStats stats;
  stats.seconds = seconds;
  stats.mean_loss = done > 0 ? loss_sum_ / static_cast<double>(done) : 0.0;
  stats.samples_per_second = seconds > 0 ? static_cast<double>(samples_) / seconds : 0.0;
  return stats;
}

std::string ProgressReporter::status_line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  const std::int64_t done = step_ - first_step_;
  const double per_step = done > 0 ? elapsed / static_cast<double>(done) : seconds_per_step_;
  const std::int64_t steps_left = (opt_.steps_per_epoch - step_) + (opt_.epochs - epoch_) * opt_.steps_per_epoch;
  const double rate = elapsed > 0 ? static_cast<double>(samples_) / elapsed : 0.0;
  char buf[256];
  std::string line;
  if (opt_.interactive) {
    // Keras' bar: 30 cells, '=' done, '>' the current position.
    const std::int64_t cells = 30, filled = step_ * cells / opt_.steps_per_epoch;
    std::string bar(static_cast<std::size_t>(cells), '.');
    for (std::int64_t i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '=';
    if (filled < cells && filled > 0) bar[static_cast<std::size_t>(filled)] = '>';
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld %lld/%lld [%s]", static_cast<long long>(epoch_),
                  static_cast<long long>(opt_.epochs), static_cast<long long>(step_),
                  static_cast<long long>(opt_.steps_per_epoch), bar.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%lld", static_cast<long long>(epoch_),
                  static_cast<long long>(opt_.epochs), static_cast<long long>(step_),
                  static_cast<long long>(opt_.steps_per_epoch));
  }
  line = buf;
  if (running_.empty()) {
    std::snprintf(buf, sizeof buf, "  loss %.4f", done > 0 ? loss_sum_ / static_cast<double>(done) : 0.0);
    line += buf;
  } else {
    if (const auto it = running_.find("loss"); it != running_.end()) {
      std::snprintf(buf, sizeof buf, "  loss %.4f", it->second);
      line += buf;
    }
    for (const auto& [name, v] : running_) {
      if (name == "loss") continue;
      std::snprintf(buf, sizeof buf, "  %s %.4f", name.c_str(), v);
      line += buf;
    }
  }
  std::snprintf(buf, sizeof buf, "  %.0f samples/s  ETA %s", rate,
                format_duration(per_step * static_cast<double>(steps_left)).c_str());
  return line + buf;
}

void ProgressReporter::print_status() {
  const std::string line = status_line();
  last_printed_step_ = step_;
  if (opt_.interactive) {
    // Pad with spaces so a shorter line fully covers the previous one.
    out_ << '\r' << line;
    if (line.size() < last_width_) out_ << std::string(last_width_ - line.size(), ' ');
    last_width_ = line.size();
  } else {
    out_ << line << '\n';
  }
  out_.flush();
}

std::string ProgressReporter::format_duration(double seconds) {
  const auto total = static_cast<long long>(seconds + 0.5);
  const long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char buf[64];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", h, m, s);
  } else if (m > 0) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", s);
  }
  return buf;
}

}  // namespace kiln::train
