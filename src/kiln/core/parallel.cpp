#include "kiln/core/parallel.h"

#include <omp.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kiln/core/error.h"

namespace kiln {

namespace {
int initial_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || n < 1 || n > 4096) {
      throw Error(std::string("KILN_NUM_THREADS='") + env + "' is not a positive thread count");
    }
    omp_set_num_threads(static_cast<int>(n));
    return static_cast<int>(n);
  }
  return omp_get_num_procs();
}

int& thread_count() {
  static int n = initial_threads();
  return n;
}
}  // namespace

int num_threads() { return thread_count(); }

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: thread count must be >= 1, got " + std::to_string(n));
  thread_count() = n;
  omp_set_num_threads(n);
}

namespace {
thread_local bool t_serial = false;
thread_local bool t_in_team_chunk = false;         // running a chunk of a team job (nested calls run inline)
thread_local ThreadTeamScope::Team* t_team = nullptr;  // the team this thread dispatches to

// Each thread's share of [begin, end) when `parts` threads split it.
void run_part(std::int64_t begin, std::int64_t end, std::int64_t part, std::int64_t parts, detail::RangeBody body) {
  const std::int64_t range = end - begin;
  const std::int64_t b = begin + range * part / parts;
  const std::int64_t e = begin + range * (part + 1) / parts;
  if (b < e) body(b, e);
}
}  // namespace

SerialScope::SerialScope() : previous_(t_serial) { t_serial = true; }
SerialScope::~SerialScope() { t_serial = previous_; }

// Workers wait on a generation counter: the dispatcher publishes a job, bumps
// the generation, runs part 0 itself and spins until every worker has counted
// down. Between jobs a worker spins (pause) for kSpin, then sleeps on the
// condition variable until the next generation or the end of the scope.
class ThreadTeamScope::Team {
 public:
  explicit Team(int threads) {
    workers_.reserve(static_cast<std::size_t>(threads - 1));
    for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
  }
  ~Team() {
    {
      const std::lock_guard lock(mutex_);
      stop_.store(true, std::memory_order_seq_cst);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(std::int64_t begin, std::int64_t end, int parts, detail::RangeBody body) {
    begin_ = begin;
    end_ = end;
    parts_ = parts;
    body_ = &body;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);  // publishes the job fields above
    if (sleeping_.load(std::memory_order_seq_cst) > 0) {
      const std::lock_guard lock(mutex_);
      wake_.notify_all();
    }
    t_in_team_chunk = true;
    run_part(begin, end, 0, parts, body);
    t_in_team_chunk = false;
    // Spin briefly, then yield: on an oversubscribed machine the worker we
    // wait for may need this core to finish.
    for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) {
      if (i < kPauses) {
        _mm_pause();
      } else {
        std::this_thread::yield();
      }
    }
    body_ = nullptr;
  }

 private:
  static constexpr auto kSpin = std::chrono::microseconds(200);
  static constexpr int kPauses = 2048;  // pause instructions before spinning turns to yielding

  void work(int index) {
    t_in_team_chunk = true;
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      if (g == seen && !stop_.load(std::memory_order_relaxed)) {
        const auto spin_until = std::chrono::steady_clock::now() + kSpin;
        for (int i = 0; (g = generation_.load(std::memory_order_acquire)) == seen; ++i) {
          if (stop_.load(std::memory_order_relaxed)) break;
          if (i < kPauses) {
            _mm_pause();
          } else {
            std::this_thread::yield();  // let a thread that has work run (oversubscribed machines)
          }
          if ((i & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
            std::unique_lock lock(mutex_);
            sleeping_.fetch_add(1, std::memory_order_seq_cst);
            wake_.wait(lock, [&] {
              return generation_.load(std::memory_order_seq_cst) != seen || stop_.load(std::memory_order_seq_cst);
            });
            sleeping_.fetch_sub(1, std::memory_order_seq_cst);
          }
        }
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = g;
      if (index < parts_) run_part(begin_, end_, index, parts_, *body_);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  // The job, written by the dispatcher before it bumps the generation.
  std::int64_t begin_ = 0, end_ = 0;
  int parts_ = 0;
  const detail::RangeBody* body_ = nullptr;
};

ThreadTeamScope::ThreadTeamScope() {
  if (t_team != nullptr || num_threads() < 2) return;
  team_ = std::make_unique<Team>(num_threads());
  t_team = team_.get();
}

ThreadTeamScope::~ThreadTeamScope() {
  if (team_ && t_team == team_.get()) t_team = nullptr;
}

namespace detail {

bool in_parallel_region() { return t_serial || t_in_team_chunk || omp_in_parallel() != 0; }

void parallel_run(std::int64_t begin, std::int64_t end, std::int64_t grain, RangeBody body) {
  const std::int64_t range = end - begin;
  const std::int64_t max_chunks = (range + grain - 1) / std::max<std::int64_t>(grain, 1);
  if (t_team != nullptr) {
    const auto parts = static_cast<int>(std::min<std::int64_t>(t_team->threads(), max_chunks));
    t_team->run(begin, end, parts, body);
    return;
  }
  const int threads = static_cast<int>(std::min<std::int64_t>(num_threads(), max_chunks));
#pragma omp parallel num_threads(threads)
  {
    run_part(begin, end, omp_get_thread_num(), omp_get_num_threads(), body);
  }
}

}  // namespace detail
}  // namespace kiln
