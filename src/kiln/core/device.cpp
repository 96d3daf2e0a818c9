#include "kiln/core/device.h"

#include <array>
#include <mutex>

#include "kiln/core/error.h"

namespace kiln {

std::string Device::str() const {
  if (kind == DeviceKind::cpu) return "cpu";
  return "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return Device{};
  if (text.rfind("cuda", 0) == 0) {
    if (text.size() == 4) return Device{DeviceKind::cuda, 0};
    if (text[4] == ':') {
      try {
        return Device{DeviceKind::cuda, std::stoi(text.substr(5))};
      } catch (const std::exception&) {
      }
    }
  }
  throw Error("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
}

namespace {
// Never destroyed: tensors with static lifetime may still free memory at exit.
std::array<std::unique_ptr<Backend>, kNumDeviceKinds>& backends() {
  static auto* table = new std::array<std::unique_ptr<Backend>, kNumDeviceKinds>();
  return *table;
}
}  // namespace

void ensure_backends_registered();  // defined in backend/registry.cpp

Backend& backend_for(DeviceKind kind) {
  ensure_backends_registered();
  auto& slot = backends()[static_cast<int>(kind)];
  if (!slot) {
    throw Error(std::string("device ") + (kind == DeviceKind::cuda ? "cuda" : "cpu") +
                " is not available: kiln was built without this backend");
  }
  return *slot;
}

void register_backend(std::unique_ptr<Backend> backend) {
  const auto k = static_cast<int>(backend->kind());
  backends()[k] = std::move(backend);
}

}  // namespace kiln
