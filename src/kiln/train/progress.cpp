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

void ProgressReporter::start_epoch(std::int64_t epoch) {
  epoch_ = epoch;
  step_ = 0;
  samples_ = 0;
  loss_sum_ = 0.0;
  last_printed_step_ = 0;
  last_width_ = 0;
  epoch_start_ = Clock::now();
  last_draw_ = epoch_start_;
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
  if (step_ > 0) seconds_per_step_ = seconds / static_cast<double>(step_);
  EpochStats stats;
  stats.seconds = seconds;
  stats.mean_loss = step_ > 0 ? loss_sum_ / static_cast<double>(step_) : 0.0;
  stats.samples_per_second = seconds > 0 ? static_cast<double>(samples_) / seconds : 0.0;
  return stats;
}

std::string ProgressReporter::status_line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  const double per_step = step_ > 0 ? elapsed / static_cast<double>(step_) : seconds_per_step_;
  const std::int64_t steps_left = (opt_.steps_per_epoch - step_) + (opt_.epochs - epoch_) * opt_.steps_per_epoch;
  const double rate = elapsed > 0 ? static_cast<double>(samples_) / elapsed : 0.0;
  const double mean_loss = step_ > 0 ? loss_sum_ / static_cast<double>(step_) : 0.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %lld/%lld  loss %.4f  %.0f samples/s  ETA %s",
                static_cast<long long>(epoch_), static_cast<long long>(opt_.epochs), static_cast<long long>(step_),
                static_cast<long long>(opt_.steps_per_epoch), mean_loss, rate,
                format_duration(per_step * static_cast<double>(steps_left)).c_str());
  return buf;
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
