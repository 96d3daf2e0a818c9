// Random tensors drawn from a Generator's counter-based stream.
#include "kiln/ops/kernels.h"
#include "kiln/ops/ops.h"

namespace kiln {

namespace {
Tensor draw(const Shape& shape, RandomDist dist, double a, double b, Generator& gen, DType dtype, Device device) {
  if (!is_floating(dtype)) throw Error(std::string("random: dtype must be floating, got ") + dtype_name(dtype));
  Tensor out = Tensor::empty(shape, dtype, device);
  const std::uint64_t offset = gen.reserve(static_cast<std::uint64_t>(out.numel()));
  random_kernels().get(device, dtype)(out, dist, a, b, gen.seed(), offset);
  return out;
}
}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return draw(shape, RandomDist::uniform, 0.0, 1.0, gen, dtype, device);
}
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype, Device device) {
  if (!(low <= high)) throw Error("uniform: low " + std::to_string(low) + " > high " + std::to_string(high));
  return draw(shape, RandomDist::uniform, low, high, gen, dtype, device);
}
Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return draw(shape, RandomDist::normal, 0.0, 1.0, gen, dtype, device);
}
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype, Device device) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error("bernoulli: probability " + std::to_string(p) + " is outside [0, 1]");
  return draw(shape, RandomDist::bernoulli, p, 0.0, gen, dtype, device);
}

}  // namespace kiln
