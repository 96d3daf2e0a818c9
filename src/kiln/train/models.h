#pragma once
// The model zoo `kiln train --model` picks from.
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/nn/module.h"

namespace kiln::train {

/// Names accepted by make_model, in the order help text lists them.
const std::vector<std::string>& model_names();

/// A fresh 28×28 → 10-class model with weights drawn from `gen`:
/// "mlp" = Flatten, 784-512-256-10 Linear layers with ReLU between (as
/// torch_fmnist.py's mlp). Throws naming the known models for other names.
std::shared_ptr<nn::Layer> make_model(const std::string& name, Generator& gen);

}  // namespace kiln::train
