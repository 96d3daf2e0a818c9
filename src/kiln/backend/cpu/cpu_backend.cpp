// The CPU backend: a pooled, 64-byte-aligned allocator and synchronous copies.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "kiln/backend/cpu/register.h"
#include "kiln/core/device.h"
#include "kiln/core/error.h"

namespace kiln::cpu {

namespace {

// Caches freed blocks by rounded size so training loops, which allocate the
// same shapes every step, stop calling the system allocator after step one.
class PooledAllocator {
 public:
  static constexpr std::size_t kAlignment = 64;
  static constexpr std::size_t kMaxCachedBytes = std::size_t{1} << 31;

  void* allocate(std::size_t nbytes) {
    const std::size_t size = round_up(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) {
      release_cache();
      p = std::aligned_alloc(kAlignment, size);
      if (p == nullptr) throw Error("cpu: out of memory allocating " + std::to_string(nbytes) + " bytes");
    }
    return p;
  }

  void deallocate(void* p, std::size_t nbytes) {
    const std::size_t size = round_up(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + size > kMaxCachedBytes) {
      std::free(p);
      return;
    }
    free_.emplace(size, p);
    cached_ += size;
  }

  ~PooledAllocator() { release_cache(); }

 private:
  static std::size_t round_up(std::size_t n) {
    // Small blocks: multiples of 64 B; large: steps of 1/8 of the power of two, bounding waste at 12.5%.
    if (n <= 4096) return std::max<std::size_t>(kAlignment, (n + kAlignment - 1) / kAlignment * kAlignment);
    std::size_t p = 4096;
    while (p * 2 < n) p *= 2;
    const std::size_t step = p / 8;
    return (n + step - 1) / step * step;
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::size_t cached_ = 0;
};

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::cpu; }
  void* allocate(std::size_t nbytes, int /*device_index*/) override { return pool_.allocate(nbytes); }
  void deallocate(void* ptr, std::size_t nbytes, int /*device_index*/) override { pool_.deallocate(ptr, nbytes); }
  void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes) override {
    if (dst_device.kind != DeviceKind::cpu || src_device.kind != DeviceKind::cpu) {
      throw Error("cpu backend cannot copy between " + src_device.str() + " and " + dst_device.str());
    }
    if (nbytes != 0) std::memcpy(dst, src, nbytes);
  }
  void synchronize(int /*device_index*/) override {}

 private:
  PooledAllocator pool_;
};

}  // namespace

void register_cpu_backend() {
  register_backend(std::make_unique<CpuBackend>());
  register_elementwise_kernels();
  register_reduce_kernels();
  register_matmul_kernels();
  register_random_kernels();
  register_nn_kernels();
  register_index_kernels();
  register_conv_kernels();
}

}  // namespace kiln::cpu
