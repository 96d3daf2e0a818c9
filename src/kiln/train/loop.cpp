#include "kiln/train/loop.h"

#include <cmath>
#include <string>

namespace kiln::train {

double train_epoch(nn::Layer& model, optim::Optimizer& optimizer, DataLoader& loader, const LossFn& loss_fn,
                   ProgressReporter* progress) {
  model.train();
  loader.start_epoch();
  const std::int64_t steps = loader.num_batches();
  if (steps == 0) throw Error("train_epoch: the data loader yields no batches");
  double loss_sum = 0.0;
  for (std::int64_t b = 0; b < steps; ++b) {
    const Batch batch = loader.batch(b);
    optimizer.zero_grad();
    const Tensor loss = loss_fn(model.forward(batch.inputs), batch.targets);
    loss.backward();
    optimizer.step();
    const double value = loss.item();
    if (!std::isfinite(value)) {
      throw Error("train_epoch: loss became " + std::to_string(value) + " at step " + std::to_string(b + 1) +
                  " (try a smaller learning rate)");
    }
    loss_sum += value;
    if (progress != nullptr) progress->update(b + 1, value, batch.inputs.size(0));
  }
  return loss_sum / static_cast<double>(steps);
}

}  // namespace kiln::train
