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
/// N(0, std²) with std = gain·√(2 / (fan_in + fan_out)) (torch.nn.init.xavier_normal_).
void xavier_normal_(Tensor& t, Generator& gen, double gain = 1.0);
/// N(0, std²) with std = gain / √fan_in, gain = √(2 / (1 + a²)) (torch.nn.init.kaiming_normal_, fan_in mode).
void kaiming_normal_(Tensor& t, Generator& gen, double a = 0.0);
/// A (semi-)orthogonal matrix times gain (torch.nn.init.orthogonal_, Keras' Orthogonal):
/// t viewed as [rows, numel/rows] gets orthonormal rows or columns, whichever are fewer,
/// from the QR factorisation (sign-fixed, R's diagonal positive) of a standard normal draw.
void orthogonal_(Tensor& t, Generator& gen, double gain = 1.0);

}  // namespace init

/// A weight initialiser chosen by name, Keras' names: `.init = Init::he_normal`.
/// Fans follow torch's rule for a weight [out, in, k...] (fan_in = in·k).
/// The normal variants draw from a plain normal, as torch's xavier_normal_ and
/// kaiming_normal_ do, not from Keras' truncated normal.
enum class Init : std::uint8_t {
  torch_default,   ///< the layer's PyTorch default (Conv2d: kaiming_uniform a=√5; Embedding: N(0, 1))
  glorot_uniform,  ///< xavier_uniform_: U(±√(6 / (fan_in + fan_out)))
  glorot_normal,   ///< xavier_normal_: N(0, 2 / (fan_in + fan_out))
  he_uniform,      ///< kaiming_uniform_ (a = 0): U(±√(6 / fan_in))
  he_normal,       ///< kaiming_normal_ (a = 0): N(0, 2 / fan_in)
  lecun_uniform,   ///< U(±√(3 / fan_in))
  lecun_normal,    ///< N(0, 1 / fan_in)
  uniform,         ///< Keras' "uniform": U(-0.05, 0.05)
  normal,          ///< Keras' "normal": N(0, 0.05²)
  zeros,
};
/// The name as written above ("he_normal"), for layer descriptions.
const char* init_name(Init how);

namespace init {
/// Fills `t` as `how` says. Init::torch_default is each layer's own rule, so
/// layers handle it themselves; passing it here is an error.
void apply_(Tensor& t, Init how, Generator& gen);
}  // namespace init

}  // namespace kiln::nn
