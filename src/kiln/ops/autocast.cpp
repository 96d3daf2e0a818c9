#include "kiln/ops/autocast.h"

#include <mutex>
#include <string>

#include "kiln/autograd/node.h"
#include "kiln/ops/ops.h"

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

namespace {
// One lock for every parameter's copy slot: taken once per GEMM call, never
// across a cast that another thread waits on for long (casts run outside it).
std::mutex g_mirror_mutex;

bool is_parameter(const Tensor& t) { return t.requires_grad() && !t.grad_fn() && t.is_contiguous(); }
}  // namespace

Tensor autocast_weight(const Tensor& w, DType low) {
  if (!is_parameter(w) || w.dtype() == low) return w.dtype() == low ? w : cast(w, low).contiguous();
  TensorImpl& impl = w.impl();
  const std::uint64_t version = w.storage()->version();
  {
    const std::lock_guard lock(g_mirror_mutex);
    if (impl.cast_mirror && impl.cast_mirror->dtype == low && impl.cast_mirror_version == version) {
      return Tensor(impl.cast_mirror);
    }
  }
  Tensor copy;
  {
    NoGradGuard no_grad;
    copy = cast(w, low).contiguous();
  }
  const std::lock_guard lock(g_mirror_mutex);
  impl.cast_mirror = copy.impl_ptr();
  impl.cast_mirror_version = version;
  return copy;
}

Tensor cast_mirror_for_update(const Tensor& p) {
  const std::lock_guard lock(g_mirror_mutex);
  const TensorImpl& impl = p.impl();
  if (!impl.cast_mirror || impl.cast_mirror->dtype != DType::bf16 || impl.cast_mirror_version != p.storage()->version()) {
    return Tensor();
  }
  return Tensor(impl.cast_mirror);
}

void mark_cast_mirror_current(const Tensor& p) {
  const std::lock_guard lock(g_mirror_mutex);
  if (p.impl().cast_mirror) p.impl().cast_mirror_version = p.storage()->version();
}

}  // namespace kiln
