#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "dataplane/core/batch.h"

namespace jsontcplb {

/// FIFO of batches bounded in bytes. It never drops anything: `full()` tells producers to stop
/// reading (TCP backpressure) and batches coming back from a failed connection go to the front.
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  void push_back(Batch batch);
  /// Puts batches back at the head, keeping their order (batches[0] becomes the head).
  void push_front(std::vector<Batch> batches);
  /// Takes batches from the head until `max_bytes` would be exceeded; always takes at least one
  /// batch when the queue is not empty.
  std::vector<Batch> pop(std::size_t max_bytes);

  bool empty() const { return batches_.empty(); }
  bool full() const { return bytes_ >= capacity_bytes_; }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t lines() const { return lines_; }
  std::size_t batches() const { return batches_.size(); }
  std::size_t capacity_bytes() const { return capacity_bytes_; }

 private:
  std::size_t capacity_bytes_;
  std::deque<Batch> batches_;
  std::size_t bytes_ = 0;
  std::uint64_t lines_ = 0;
};

}  // namespace jsontcplb
