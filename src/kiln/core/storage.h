#pragma once
// A reference-counted block of device memory that tensors view into.
#include <cstddef>
#include <functional>
#include <memory>

#include "kiln/core/device.h"

namespace kiln {

class Storage {
 public:
  /// Allocates `nbytes` on `device` through its backend's pooled allocator.
  Storage(std::size_t nbytes, Device device);
  /// Wraps memory owned elsewhere (a memory-mapped file); `release` runs on destruction.
  Storage(void* data, std::size_t nbytes, Device device, std::function<void()> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  std::function<void()> release_;  // empty: memory belongs to the backend allocator
};

}  // namespace kiln
