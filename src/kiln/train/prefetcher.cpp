#include "kiln/train/prefetcher.h"

#include <string>

#include "kiln/core/parallel.h"

namespace kiln::train {

Prefetcher::Prefetcher(MakeBatch make, std::int64_t begin, std::int64_t end, std::int64_t depth)
    : make_(std::move(make)), next_to_make_(begin), end_(end), depth_(depth), total_(end > begin ? end - begin : 0),
      worker_([this] { run(); }) {
  if (depth <= 0) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
    throw Error("Prefetcher: depth must be positive, got " + std::to_string(depth));
  }
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Prefetcher::run() {
  // The training step owns the OpenMP team; this thread works alone.
  const SerialScope serial;
  for (;;) {
    std::int64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || static_cast<std::int64_t>(ready_.size()) < depth_; });
      if (stop_ || next_to_make_ >= end_ || error_) return;
      index = next_to_make_++;
    }
    try {
      Batch b = make_(index);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

Batch Prefetcher::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (taken_ >= total_) throw Error("Prefetcher: all " + std::to_string(total_) + " batches were already taken");
  cv_.wait(lock, [&] { return !ready_.empty() || error_ != nullptr; });
  if (ready_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  ++taken_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace kiln::train
