#include "kiln/train/token_loader.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/core/rng.h"

namespace kiln::train {

TokenLoader::TokenLoader(std::shared_ptr<const io::TokenFile> file, const TokenLoaderOptions& options)
    : file_(std::move(file)), options_(options) {
  if (!file_) throw Error("TokenLoader: no token file given");
  if (options_.batch_size < 1 || options_.seq_len < 1) {
    throw Error("TokenLoader: batch size and sequence length must be at least 1, got batch size " +
                std::to_string(options_.batch_size) + " and sequence length " + std::to_string(options_.seq_len));
  }
  if (file_->size() < options_.seq_len + 1) {
    throw Error("TokenLoader: token file '" + file_->path().string() + "' holds " + std::to_string(file_->size()) +
                " tokens; sequence length " + std::to_string(options_.seq_len) + " needs at least " +
                std::to_string(options_.seq_len + 1) + " (inputs plus the one-token shift for targets)");
  }
}

std::int64_t TokenLoader::window_start(std::int64_t step, std::int64_t row) const {
  if (step < 0 || row < 0 || row >= options_.batch_size) {
    throw Error("TokenLoader::window_start: step " + std::to_string(step) + " and row " + std::to_string(row) +
                " must be >= 0, and the row below the batch size " + std::to_string(options_.batch_size));
  }
  // Valid starts are 0 .. size-T-1. The counter is (step, row), so no product can overflow;
  // the modulo of a 64-bit draw is biased by under starts/2^64, far below anything measurable.
  const auto starts = static_cast<std::uint64_t>(file_->size() - options_.seq_len);
  const auto r = philox4x32(static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(row), options_.seed);
  const std::uint64_t draw = (static_cast<std::uint64_t>(r[1]) << 32) | r[0];
  return static_cast<std::int64_t>(draw % starts);
}

Batch TokenLoader::gather(const std::int64_t* starts, std::int64_t rows) const {
  const std::int64_t t = options_.seq_len;
  Batch b;
  b.inputs = Tensor::empty({rows, t}, DType::i64);
  b.targets = Tensor::empty({rows, t}, DType::i64);
  auto* in = b.inputs.data<std::int64_t>();
  auto* tg = b.targets.data<std::int64_t>();
  const std::uint16_t* ids = file_->tokens().data();
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* w = ids + starts[r];
    for (std::int64_t i = 0; i < t; ++i) {
      in[r * t + i] = w[i];
      tg[r * t + i] = w[i + 1];
    }
  }
  return b;
}

Batch TokenLoader::batch_at(std::int64_t step) const {
  std::vector<std::int64_t> starts(static_cast<std::size_t>(options_.batch_size));
  for (std::int64_t r = 0; r < options_.batch_size; ++r) starts[static_cast<std::size_t>(r)] = window_start(step, r);
  return gather(starts.data(), options_.batch_size);
}

Batch TokenLoader::next_batch() {
  Batch b = batch_at(step_);
  ++step_;
  return b;
}

void TokenLoader::set_step(std::int64_t step) {
  if (step < 0) throw Error("TokenLoader::set_step: step must be >= 0, got " + std::to_string(step));
  step_ = step;
}

std::int64_t TokenLoader::num_windows() const { return (file_->size() - 1) / options_.seq_len; }

std::int64_t TokenLoader::num_sequential_batches(std::optional<std::int64_t> max_batches) const {
  if (max_batches && *max_batches < 0) {
    throw Error("TokenLoader: max_batches must be >= 0, got " + std::to_string(*max_batches));
  }
  const std::int64_t all = (num_windows() + options_.batch_size - 1) / options_.batch_size;
  return max_batches ? std::min(all, *max_batches) : all;
}

Batch TokenLoader::sequential_batch(std::int64_t index) const {
  const std::int64_t batches = num_sequential_batches();
  if (index < 0 || index >= batches) {
    throw Error("TokenLoader::sequential_batch: batch " + std::to_string(index) + " is outside 0.." +
                std::to_string(batches - 1) + " ('" + file_->path().string() + "' has " +
                std::to_string(num_windows()) + " windows of " + std::to_string(options_.seq_len) + ")");
  }
  const std::int64_t first = index * options_.batch_size;
  const std::int64_t rows = std::min(options_.batch_size, num_windows() - first);
  std::vector<std::int64_t> starts(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) starts[static_cast<std::size_t>(r)] = (first + r) * options_.seq_len;
  return gather(starts.data(), rows);
}

}  // namespace kiln::train
