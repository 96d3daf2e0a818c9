#pragma once
// Parameter initialisers (torch.nn.init), drawing from an explicit Generator
// so that a seed fixes a model's starting point. They write in place without
// recording a graph, so they work on parameters that require grad.
#include <cstdint>
#include <utility>

#include "kiln/core/rng.h"
#include "kiln/core/tensor.h"

namespace kiln::nn {

/// The generator layers use when none is given (seed 0 until manual_seed).
/// Not thread-safe: build models from one thread.
Generator& default_generator();
/// Reseeds default_generator() (like torch.manual_seed).
void manual_seed(std::uint64_t seed);

namespace init {

/// {fan_in, fan_out} of a weight [out, in, k...]: in·k and out·k (torch's rule).
std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& t);

void uniform_(Tensor& t, double low, double high, Generator& gen);
void normal_(Tensor& t, double mean, double std, Generator& gen);
void constant_(Tensor& t, double value);
void zeros_(Tensor& t);
void ones_(Tensor& t);
/// U(-b, b) with b = gain·√(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& t, Generator& gen, double gain = 1.0);
/// U(-b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) (leaky_relu, fan_in mode).
/// a = √5 gives PyTorch's default Linear/Conv weight init, b = 1/√fan_in.
void kaiming_uniform_(Tensor& t, Generator& gen, double a = 0.0);

}  // namespace init
}  // namespace kiln::nn
