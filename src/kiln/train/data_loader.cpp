#include "kiln/train/data_loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>

#include "kiln/core/parallel.h"

namespace kiln::train {

DataLoader::DataLoader(Tensor inputs, Tensor targets, const DataLoaderOptions& options)
    : opt_(options), n_(0), gen_(options.seed) {
  if (!inputs.defined() || !targets.defined()) throw Error("DataLoader: inputs and targets must be defined");
  if (inputs.dim() == 0 || targets.dim() == 0) {
    throw Error("DataLoader: inputs " + inputs.str() + " and targets " + targets.str() +
                " need a leading sample dimension");
  }
  if (inputs.size(0) != targets.size(0)) {
    throw Error("DataLoader: inputs " + inputs.str() + " and targets " + targets.str() +
                " hold different numbers of samples");
  }
  if (inputs.device().kind != DeviceKind::cpu || targets.device().kind != DeviceKind::cpu) {
    throw Error("DataLoader: inputs and targets must be in CPU memory, got " + inputs.device().str() + " and " +
                targets.device().str());
  }
  if (opt_.batch_size <= 0) throw Error("DataLoader: batch_size must be positive, got " + std::to_string(opt_.batch_size));
  // Contiguous once here so every batch is a run of memcpys.
  inputs_ = inputs.detach().contiguous();
  targets_ = targets.detach().contiguous();
  n_ = inputs_.size(0);
  order_.resize(static_cast<std::size_t>(n_));
  std::iota(order_.begin(), order_.end(), std::int64_t{0});
}

std::int64_t DataLoader::num_batches() const {
  return opt_.drop_last ? n_ / opt_.batch_size : (n_ + opt_.batch_size - 1) / opt_.batch_size;
}

void DataLoader::start_epoch() { start_epoch(next_epoch_); }

void DataLoader::start_epoch(std::int64_t epoch) {
  if (epoch < 0) throw Error("DataLoader: epoch must be >= 0, got " + std::to_string(epoch));
  next_epoch_ = epoch + 1;
  // Each epoch's draws start at their own counter block (2^40 values apart).
  gen_.set_state(opt_.seed, static_cast<std::uint64_t>(epoch) << 40);
  std::iota(order_.begin(), order_.end(), std::int64_t{0});
  if (!opt_.shuffle) return;
  // Fisher–Yates, one draw per position from the loader's Generator.
  for (std::int64_t i = n_ - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(gen_.next_below(static_cast<std::uint64_t>(i + 1)));
    std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
  }
}

Batch DataLoader::batch(std::int64_t b) const {
  if (b < 0 || b >= num_batches()) {
    throw Error("DataLoader: batch " + std::to_string(b) + " out of range [0, " + std::to_string(num_batches()) + ")");
  }
  const std::int64_t begin = b * opt_.batch_size;
  const std::int64_t end = std::min(n_, begin + opt_.batch_size);
  const std::vector<std::int64_t> index(order_.begin() + begin, order_.begin() + end);
  return {gather_rows(inputs_, index), gather_rows(targets_, index), Tensor()};
}

Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& index) {
  if (x.dim() == 0) throw Error("gather_rows: tensor " + x.str() + " has no row dimension");
  if (x.device().kind != DeviceKind::cpu) throw Error("gather_rows: tensor " + x.str() + " is not in CPU memory");
  const Tensor src = x.contiguous();
  Shape shape = src.shape();
  const std::int64_t rows = shape[0];
  shape[0] = static_cast<std::int64_t>(index.size());
  Tensor out = Tensor::empty(shape, src.dtype());
  for (const std::int64_t i : index) {
    if (i < 0 || i >= rows) {
      throw Error("gather_rows: index " + std::to_string(i) + " out of range for " + src.str());
    }
  }
  const std::size_t row_bytes = rows == 0 ? 0 : src.nbytes() / static_cast<std::size_t>(rows);
  const auto* from = static_cast<const char*>(src.raw_data());
  auto* to = static_cast<char*>(out.raw_data());
  parallel_for(0, static_cast<std::int64_t>(index.size()), 64, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k = b; k < e; ++k) {
      std::memcpy(to + static_cast<std::size_t>(k) * row_bytes,
                  from + static_cast<std::size_t>(index[static_cast<std::size_t>(k)]) * row_bytes, row_bytes);
    }
  });
  return out;
}

}  // namespace kiln::train
