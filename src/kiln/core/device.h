#pragma once
// Where a tensor's memory lives, and the narrow interface every backend implements.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kiln {

enum class DeviceKind : std::uint8_t { cpu, cuda };
inline constexpr int kNumDeviceKinds = 2;

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  bool operator==(const Device&) const = default;
  std::string str() const;
  /// Parses "cpu", "cuda", "cuda:1".
  static Device parse(const std::string& text);
};

inline const Device kCPU{};

/// What a backend provides to the engine: memory and data movement. Kernels
/// register separately, per (op, device kind, dtype) — see ops/dispatch.h —
/// so adding an op never touches this interface.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  /// Returns memory aligned to at least 64 bytes; throws on exhaustion.
  virtual void* allocate(std::size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes, int device_index) = 0;
  /// Copies between this backend's device and the host (or within the device).
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes) = 0;
  /// Waits for all queued work on the device (the CPU backend runs synchronously).
  virtual void synchronize(int device_index) = 0;
  /// Blocks obtained from the system (not served from the backend's cache) so
  /// far: a training step that leaves this unchanged allocated nothing new.
  virtual std::uint64_t system_allocations() const { return 0; }
};

/// The backend serving a device kind; throws if kiln was built without it.
Backend& backend_for(DeviceKind kind);
/// Installs a backend (called once by each backend's registration function).
void register_backend(std::unique_ptr<Backend> backend);

}  // namespace kiln
