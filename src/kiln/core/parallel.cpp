#include "kiln/core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>

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
}

SerialScope::SerialScope() : previous_(t_serial) { t_serial = true; }
SerialScope::~SerialScope() { t_serial = previous_; }

namespace detail {

bool in_parallel_region() { return t_serial || omp_in_parallel() != 0; }

void parallel_run(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  const std::int64_t range = end - begin;
  const std::int64_t max_chunks = (range + grain - 1) / std::max<std::int64_t>(grain, 1);
  const int threads = static_cast<int>(std::min<std::int64_t>(num_threads(), max_chunks));
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num();
    const std::int64_t nt = omp_get_num_threads();
    const std::int64_t b = begin + range * t / nt;
    const std::int64_t e = begin + range * (t + 1) / nt;
    if (b < e) body(b, e);
  }
}

}  // namespace detail
}  // namespace kiln
