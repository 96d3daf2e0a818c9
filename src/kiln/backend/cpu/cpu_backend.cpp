// The CPU backend: a pooled, 64-byte-aligned allocator and synchronous copies.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <map>
#include <mutex>
#include <new>

#include "kiln/backend/cpu/register.h"
#include "kiln/core/device.h"
#include "kiln/core/error.h"

namespace kiln::cpu {

namespace {

// The most bytes the pool keeps cached: KILN_CPU_CACHE_BYTES if set, else three
// quarters of physical memory. A fixed small cap (it was 2 GiB) is below a big
// model's training step, whose freed activations then went back to the system
// and were page-faulted in again every step; when memory does run short,
// allocate() empties the cache and retries before failing.
std::size_t max_cached_bytes() {
  if (const char* env = std::getenv("KILN_CPU_CACHE_BYTES"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end != nullptr && *end == '\0') return static_cast<std::size_t>(v);
    throw Error(std::string("KILN_CPU_CACHE_BYTES must be a byte count, got '") + env + "'");
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::size_t{1} << 34;
  return static_cast<std::size_t>(pages) / 4 * 3 * static_cast<std::size_t>(page);
}

// Caches freed blocks by rounded size so training loops, which allocate the
// same shapes every step, stop calling the system allocator after step one.
class PooledAllocator {
 public:
  static constexpr std::size_t kAlignment = 64;

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
    system_allocations_.fetch_add(1, std::memory_order_relaxed);
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
    if (cached_ + size > max_cached_) {
      std::free(p);
      return;
    }
    free_.emplace(size, p);
    cached_ += size;
  }

  ~PooledAllocator() { release_cache(); }

  std::uint64_t system_allocations() const { return system_allocations_.load(std::memory_order_relaxed); }

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

  const std::size_t max_cached_ = max_cached_bytes();
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::size_t cached_ = 0;
  std::atomic<std::uint64_t> system_allocations_{0};
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
  std::uint64_t system_allocations() const override { return pool_.system_allocations(); }

 private:
  PooledAllocator pool_;
};

}  // namespace

void register_cpu_backend() {
  register_backend(std::make_unique<CpuBackend>());
  register_elementwise_kernels();
  register_reduce_kernels();
  register_matmul_kernels();
  register_q8_0_kernels();
  register_random_kernels();
  register_nn_kernels();
  register_index_kernels();
  register_conv_kernels();
  register_pool_kernels();
  register_batch_norm_kernels();
  register_optim_kernels();
  register_rnn_kernels();
  register_loss_kernels();
  register_attention_kernels();
  register_lm_head_kernels();
}

}  // namespace kiln::cpu
