#include "kiln/ops/op_checks.h"

namespace kiln::detail {

void check_same_kind(const Tensor& a, const Tensor& b, const char* op) {
  if (!a.defined() || !b.defined()) throw Error(std::string(op) + ": undefined operand");
  if (a.dtype() != b.dtype()) {
    throw Error(std::string(op) + ": dtype mismatch between " + a.str() + " and " + b.str());
  }
  if (a.device() != b.device()) {
    throw Error(std::string(op) + ": tensors on different devices: " + a.str() + " on " + a.device().str() + ", " +
                b.str() + " on " + b.device().str());
  }
}

}  // namespace kiln::detail
