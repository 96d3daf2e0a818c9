#include "kiln/backend/cpu/register.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

void register_nn_kernels() {}

}  // namespace kiln::cpu
