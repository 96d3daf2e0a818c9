#pragma once
// The activations a fully-connected layer's GEMM can apply in its epilogue.
#include <cstdint>

namespace kiln {

enum class LinearActivation : std::uint8_t { none, gelu_tanh, gelu_erf };

}  // namespace kiln
