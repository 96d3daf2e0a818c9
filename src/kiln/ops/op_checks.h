#pragma once
// Argument checks shared by op definitions, so every op words its errors alike.
#include "kiln/core/tensor.h"

namespace kiln::detail {

/// Throws, naming `op` and both tensors, unless a and b are defined and share dtype and device.
void check_same_kind(const Tensor& a, const Tensor& b, const char* op);

}  // namespace kiln::detail
