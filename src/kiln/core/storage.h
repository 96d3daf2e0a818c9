#pragma once
// A reference-counted block of device memory that tensors view into.
#include <atomic>
#include <cstddef>
#include <cstdint>
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

  /// Counts in-place writes through kiln's in-place ops (add_, copy_, fill_,
  /// the optimizers' updates...), like torch's version counter: autograd
  /// refuses a backward pass that would read a saved tensor written after it
  /// was saved, and caches derived from the contents (autocast's bf16 copy of
  /// a weight) are valid only for the version they were made from. Writes
  /// through Tensor::data<T>() by hand are not counted.
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  std::function<void()> release_;  // empty: memory belongs to the backend allocator
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace kiln
