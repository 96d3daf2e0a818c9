#include "kiln/ops/autocast.h"

#include <string>

#include "kiln/core/error.h"

namespace kiln {

namespace {
thread_local std::optional<DType> g_autocast;
}  // namespace

AutocastGuard::AutocastGuard(DType dtype) : previous_(g_autocast) {
  if (dtype != DType::bf16 && dtype != DType::f32) {
    throw Error(std::string("autocast: only bf16 (or f32 = off) is supported, got ") + dtype_name(dtype));
  }
  g_autocast = dtype == DType::bf16 ? std::optional<DType>(DType::bf16) : std::nullopt;
}

AutocastGuard::~AutocastGuard() { g_autocast = previous_; }

std::optional<DType> autocast_dtype() { return g_autocast; }

}  // namespace kiln
