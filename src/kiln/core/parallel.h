#pragma once
// The one parallel-for every CPU kernel uses. Backed by OpenMP so that kiln's
// kernels and oneDNN share a single pool of threads.
#include <cstdint>
#include <functional>

namespace kiln {

/// Threads used by CPU kernels. Initialised from KILN_NUM_THREADS, else all cores.
int num_threads();
/// Sets the thread count for all later CPU work (kiln kernels and oneDNN).
void set_num_threads(int n);

/// While alive, parallel_for on this thread runs its body inline. Background
/// threads (the batch prefetcher) use it so they never open a second OpenMP
/// team beside the one the training step is using.
class SerialScope {
 public:
  SerialScope();
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool previous_;
};

namespace detail {
void parallel_run(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);
bool in_parallel_region();
}  // namespace detail

/// Calls body(b, e) on disjoint sub-ranges covering [begin, end); each chunk
/// holds at least `grain` items so small work stays on one thread.
template <class F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, F&& body) {
  if (end <= begin) return;
  if (end - begin <= grain || num_threads() == 1 || detail::in_parallel_region()) {
    body(begin, end);
    return;
  }
  detail::parallel_run(begin, end, grain, std::function<void(std::int64_t, std::int64_t)>(body));
}

}  // namespace kiln
