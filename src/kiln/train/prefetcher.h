#pragma once
// Prefetcher: makes the next batches on a background thread while the current
// one trains (the data pipeline's gather, augmentation and casts overlap the
// step). Batches come out in index order; an exception thrown while making a
// batch is rethrown by next() for that batch.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "kiln/train/data_loader.h"

namespace kiln::train {

class Prefetcher {
 public:
  using MakeBatch = std::function<Batch(std::int64_t index)>;
  /// Makes batches begin, begin+1, ..., end-1, keeping at most `depth` ready.
  Prefetcher(MakeBatch make, std::int64_t begin, std::int64_t end, std::int64_t depth = 2);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  /// The next batch in order; throws when all were taken or making it failed.
  Batch next();

 private:
  void run();

  MakeBatch make_;
  std::int64_t next_to_make_, end_, depth_;
  std::int64_t taken_ = 0, total_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after every member above is initialised
};

}  // namespace kiln::train
