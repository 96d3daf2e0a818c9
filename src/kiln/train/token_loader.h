#pragma once
// Batches for language-model training from a token file (io::TokenFile), as
// llm.c's data loader makes them: inputs are T consecutive ids and targets the
// same window moved on by one, so row b predicts ids[o+1 .. o+T] from
// ids[o .. o+T-1].
//
// Training batches take random window starts. The start of row b at step s is
// a function of (seed, s, b) only (one Philox draw), so there is no generator
// state beyond the step counter: a checkpoint that saves step() and a resumed
// run that calls set_step() sees exactly the batches an uninterrupted run would.
//
// Validation walks the file in order: window w covers ids [w*T, w*T + T], so
// consecutive windows share one id (the last target of w is the first input of
// w+1) and every id after the first is predicted exactly once, as in llm.c.
#include <cstdint>
#include <memory>
#include <optional>

#include "kiln/io/token_file.h"
#include "kiln/train/data_loader.h"

namespace kiln::train {

struct TokenLoaderOptions {
  std::int64_t batch_size = 1;  ///< B, rows per batch
  std::int64_t seq_len = 1;     ///< T, ids per row
  std::uint64_t seed = 0;       ///< seeds the random window starts of next_batch()
};

class TokenLoader {
 public:
  /// Throws kiln::Error when B or T is below 1, or the file holds fewer than
  /// T+1 ids (naming the file, its length and T).
  TokenLoader(std::shared_ptr<const io::TokenFile> file, const TokenLoaderOptions& options);

  /// The training batch of the current step, then moves to the next step.
  /// inputs and targets are i64 [B, T]; Batch::weights is left undefined.
  Batch next_batch();
  /// The training batch of step `step` (what next_batch() returns at that step).
  Batch batch_at(std::int64_t step) const;
  /// Start offset of row `row` of step `step`: uniform in [0, size - T - 1].
  std::int64_t window_start(std::int64_t step, std::int64_t row) const;

  /// The loader's whole state: the next step next_batch() will serve.
  std::int64_t step() const { return step_; }
  void set_step(std::int64_t step);

  /// Windows of the sequential (validation) pass: (size - 1) / T.
  std::int64_t num_windows() const;
  /// Batches of the sequential pass, at most `max_batches` when given; the last
  /// one may hold fewer than B rows.
  std::int64_t num_sequential_batches(std::optional<std::int64_t> max_batches = std::nullopt) const;
  /// Batch `index` of the sequential pass: windows index*B ... (fewer rows at the end).
  Batch sequential_batch(std::int64_t index) const;

  const io::TokenFile& file() const { return *file_; }
  const TokenLoaderOptions& options() const { return options_; }

 private:
  /// inputs/targets for the given window starts.
  Batch gather(const std::int64_t* starts, std::int64_t rows) const;

  std::shared_ptr<const io::TokenFile> file_;
  TokenLoaderOptions options_;
  std::int64_t step_ = 0;
};

}  // namespace kiln::train
