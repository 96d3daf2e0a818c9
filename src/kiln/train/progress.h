#pragma once
// ProgressReporter: training progress for people and for logs. On a terminal
// it redraws one status line in place (\r); otherwise (a pipe, a CI log) it
// prints a plain line every `log_every` steps and at the end of each epoch.
#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>

namespace kiln::train {

struct ProgressOptions {
  std::int64_t epochs = 1;
  std::int64_t steps_per_epoch = 1;
  bool interactive = false;     ///< redraw one line (stdout is a terminal)
  std::int64_t log_every = 100; ///< plain mode: print every N steps
};

/// What an epoch took, for the caller's summary line.
struct EpochStats {
  double seconds = 0.0;
  double mean_loss = 0.0;
  double samples_per_second = 0.0;
};

class ProgressReporter {
 public:
  ProgressReporter(std::ostream& out, const ProgressOptions& options);

  /// `epoch` counts from 1; `first_step` > 0 when a resumed epoch starts mid-way.
  void start_epoch(std::int64_t epoch, std::int64_t first_step = 0);
  /// After step `step` (from 1) with this batch's loss and sample count.
  void update(std::int64_t step, double loss, std::int64_t samples);
  /// After step `step` with running metrics (shown in order; "loss" first) instead of
  /// the reporter's own loss average.
  void update(std::int64_t step, const std::map<std::string, double>& running, std::int64_t samples);
  /// Ends a redrawn line early (an interrupt message follows).
  void abort_line();
  /// Finishes the epoch's output (ends the redrawn line / prints the last step)
  /// and returns its statistics.
  EpochStats end_epoch();

  /// "1h02m03s", "4m05s", "12s": for ETA.
  static std::string format_duration(double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string status_line() const;
  void print_status();

  std::ostream& out_;
  ProgressOptions opt_;
  std::int64_t epoch_ = 0;
  std::int64_t step_ = 0;
  std::int64_t first_step_ = 0;
  std::map<std::string, double> running_;
  std::int64_t samples_ = 0;
  double loss_sum_ = 0.0;
  std::int64_t last_printed_step_ = 0;
  std::size_t last_width_ = 0;
  Clock::time_point epoch_start_;
  Clock::time_point last_draw_;
  double seconds_per_step_ = 0.0;  // from finished epochs, for the ETA of later ones
};

}  // namespace kiln::train
