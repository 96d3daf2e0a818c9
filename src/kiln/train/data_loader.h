#pragma once
// DataLoader: mini-batches over tensors already in memory (like a PyTorch
// DataLoader over a TensorDataset). Row i of `inputs` pairs with row i of
// `targets`; each epoch visits every row exactly once, in a fresh order drawn
// from the loader's own Generator when shuffling.
#include <cstdint>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/core/tensor.h"

namespace kiln::train {

struct Batch {
  Tensor inputs;   ///< [b, ...] rows of inputs
  Tensor targets;  ///< [b, ...] rows of targets
  Tensor weights;  ///< [b] per-sample loss weights (Keras class_weight); undefined = all 1
};

struct DataLoaderOptions {
  std::int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  ///< drop a final batch smaller than batch_size
  std::uint64_t seed = 0;  ///< seeds the shuffling Generator
};

class DataLoader {
 public:
  /// inputs [N, ...] and targets [N, ...] on the CPU.
  DataLoader(Tensor inputs, Tensor targets, const DataLoaderOptions& options);

  std::int64_t num_samples() const { return n_; }
  std::int64_t num_batches() const;
  std::int64_t batch_size() const { return opt_.batch_size; }

  /// Begins the next epoch: draws a new sample order when shuffling.
  void start_epoch();
  /// Begins epoch `epoch` (from 0): its order depends only on (seed, epoch), so a
  /// resumed run visits the samples exactly as the interrupted one would have.
  void start_epoch(std::int64_t epoch);
  /// Batch b (0-based) of the current epoch, gathered into fresh contiguous tensors.
  Batch batch(std::int64_t b) const;
  /// Sample indices of the current epoch, in visiting order.
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  Tensor inputs_;
  Tensor targets_;
  DataLoaderOptions opt_;
  std::int64_t n_;
  Generator gen_;
  std::int64_t next_epoch_ = 0;
  std::vector<std::int64_t> order_;
};

/// Rows `index` of x [N, ...] (CPU) copied into a new contiguous tensor [len(index), ...].
Tensor gather_rows(const Tensor& x, const std::vector<std::int64_t>& index);

}  // namespace kiln::train
