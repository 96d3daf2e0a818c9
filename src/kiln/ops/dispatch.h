#pragma once
// Kernel tables: the seam between what an op means (ops/*.cpp) and where it
// runs (backend/<device>/*.cpp). A backend fills entries per (device kind,
// dtype); op code looks them up by the tensor it was handed and never names a device.
#include <array>
#include <string>

#include "kiln/core/device.h"
#include "kiln/core/dtype.h"
#include "kiln/core/error.h"

namespace kiln {

template <class Fn>
class KernelTable {
 public:
  explicit KernelTable(const char* op) : op_(op) {}

  void set(DeviceKind device, DType dtype, Fn* fn) {
    table_[static_cast<int>(device)][static_cast<int>(dtype)] = fn;
  }
  template <class... D>
  void set_many(DeviceKind device, Fn* fn, D... dtypes) {
    (set(device, dtypes, fn), ...);
  }
  bool supports(DeviceKind device, DType dtype) const {
    return table_[static_cast<int>(device)][static_cast<int>(dtype)] != nullptr;
  }
  /// The kernel for (device, dtype); throws naming the op when there is none.
  Fn* get(Device device, DType dtype) const {
    Fn* fn = table_[static_cast<int>(device.kind)][static_cast<int>(dtype)];
    if (fn == nullptr) {
      throw Error(std::string(op_) + ": no kernel for dtype " + dtype_name(dtype) + " on device " + device.str());
    }
    return fn;
  }
  const char* name() const { return op_; }

 private:
  const char* op_;
  std::array<std::array<Fn*, kNumDTypes>, kNumDeviceKinds> table_{};
};

}  // namespace kiln
