#pragma once
// The activation a fully-connected layer's hand-written CPU kernels (the
// GEMVs) apply to each output value after the bias: GELU in f32 with kiln's
// inlinable tanh / erf, so the epilogue costs no libm call per value.
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/ops/linear_activation.h"

namespace kiln::cpu {

KILN_ALWAYS_INLINE float apply_linear_activation(float v, LinearActivation act) {
  constexpr float kSqrt2_Pi = 0.79788456080286535588F, kSqrt1_2 = 0.70710678118654752440F;
  switch (act) {
    case LinearActivation::none: return v;
    case LinearActivation::gelu_tanh: return 0.5F * v * (1.0F + tanh_f32(kSqrt2_Pi * (v + 0.044715F * v * v * v)));
    case LinearActivation::gelu_erf: return 0.5F * v * (1.0F + erf_f32(v * kSqrt1_2));
  }
  return v;
}

}  // namespace kiln::cpu
