#pragma once
// Builds a Sequential model from a config's layer list, Keras style: each
// layer's input size is inferred from the output of the layers before it, so a
// config names only what Keras' constructor would ("dense", units = 128).
//
//   [[model.layers]]            # one table per layer, in order
//   type = "conv2d"             # see layer_types() for every type and its keys
//   filters = 32
//   kernel_size = 3
//   activation = "relu"         # optional on dense/conv2d: appended as its own layer
#include <memory>
#include <string>
#include <vector>

#include "kiln/config/config.h"
#include "kiln/core/rng.h"
#include "kiln/nn/sequential.h"

namespace kiln::train {

/// `layers`: the config array; `input_shape`: one sample's shape (no batch dim);
/// weights drawn from `gen`. Errors name the layer's config path and key.
std::shared_ptr<nn::Sequential> build_sequential(const config::Node& layers, const Shape& input_shape,
                                                 DType input_dtype, Generator& gen);

/// Every layer type the builder knows, for help texts and error messages.
const std::vector<std::string>& layer_types();

}  // namespace kiln::train
