#include "kiln/ops/quantized_weights.h"

#include <mutex>

#include "kiln/autograd/node.h"
#include "kiln/core/error.h"
#include "kiln/ops/kernels.h"

namespace kiln {

namespace {
thread_local WeightFormat g_format = WeightFormat::f32;

// One lock for every weight's q8_0 slot, held only to read or swap the
// pointer: quantizing runs outside it (two threads may both quantize a new
// weight; they make identical copies and the later one is kept).
std::mutex g_mirror_mutex;
}  // namespace

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32: return "f32";
    case WeightFormat::bf16: return "bf16";
    case WeightFormat::q8_0: return "q8_0";
  }
  return "?";
}

WeightFormat weight_format_from_name(const std::string& name) {
  for (const WeightFormat f : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::q8_0}) {
    if (name == weight_format_name(f)) return f;
  }
  throw Error("unknown weight format '" + name + "' (expected f32, bf16 or q8_0)");
}

WeightFormatGuard::WeightFormatGuard(WeightFormat format)
    : autocast_(format == WeightFormat::bf16 ? DType::bf16 : DType::f32), previous_(g_format) {
  g_format = format;
}

WeightFormatGuard::~WeightFormatGuard() { g_format = previous_; }

WeightFormat weight_format() { return g_format; }

Q8_0Weight quantize_q8_0(const Tensor& w) {
  constexpr std::int64_t kBlock = Q8_0Weight::kBlock;
  if (w.dim() != 2 || w.dtype() != DType::f32) throw Error("quantize_q8_0: expected an f32 matrix, got " + w.str());
  const std::int64_t N = w.shape()[0], K = w.shape()[1];
  if (K % kBlock != 0) {
    throw Error("quantize_q8_0: rows of " + std::to_string(K) + " values in " + w.str() +
                " are not a whole number of 32-value blocks");
  }
  NoGradGuard no_grad;
  const Tensor src = w.contiguous();
  Q8_0Weight q{.quants = Tensor::empty({N, K}, DType::u8, w.device()),
               .scales = Tensor::empty({N, K / kBlock}, DType::f16, w.device())};
  if (src.numel() > 0) quantize_q8_0_kernels().get(w.device(), DType::f32)(src, q);
  return q;
}

std::shared_ptr<const Q8_0Weight> q8_0_weight(const Tensor& w) {
  TensorImpl& impl = w.impl();
  const std::uint64_t version = w.storage()->version();
  {
    const std::lock_guard lock(g_mirror_mutex);
    if (impl.q8_0_mirror && impl.q8_0_mirror_version == version) return impl.q8_0_mirror;
  }
  auto copy = std::make_shared<const Q8_0Weight>(quantize_q8_0(w));
  const std::lock_guard lock(g_mirror_mutex);
  impl.q8_0_mirror = copy;
  impl.q8_0_mirror_version = version;
  return copy;
}

}  // namespace kiln
