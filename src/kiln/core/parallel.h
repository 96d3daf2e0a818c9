#pragma once
// The one parallel-for every CPU kernel uses. Backed by OpenMP so that kiln's
// kernels and oneDNN share a single pool of threads — except inside a
// ThreadTeamScope (token-by-token decoding), where a persistent team of
// spinning workers takes the calls instead of a new parallel region each.
#include <cstdint>
#include <memory>
#include <type_traits>

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

/// While alive, parallel_for called from this thread runs on a persistent team
/// of num_threads() - 1 worker threads (plus this one) that wait for the next
/// call by spinning for a short while, then sleeping — instead of an OpenMP
/// region per call. Decoding one token is ~150 small ops of a few tens of
/// microseconds each; a region's fork and join cost several microseconds each
/// time. The workers stop when the scope ends. oneDNN calls made inside the
/// scope still use OpenMP's threads. Nested scopes reuse the outer team.
class ThreadTeamScope {
 public:
  ThreadTeamScope();
  ~ThreadTeamScope();
  ThreadTeamScope(const ThreadTeamScope&) = delete;
  ThreadTeamScope& operator=(const ThreadTeamScope&) = delete;

  class Team;

 private:
  std::unique_ptr<Team> team_;  // null when nested or single-threaded
};

namespace detail {
/// A non-owning reference to a callable body(b, e): no allocation per call.
class RangeBody {
 public:
  template <class F>
  explicit RangeBody(F& f)
      : object_(static_cast<void*>(&f)),
        call_([](void* o, std::int64_t b, std::int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(std::int64_t b, std::int64_t e) const { call_(object_, b, e); }

 private:
  void* object_;
  void (*call_)(void*, std::int64_t, std::int64_t);
};

void parallel_run(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeBody body);
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
  detail::parallel_run(begin, end, grain, detail::RangeBody(body));
}

}  // namespace kiln
