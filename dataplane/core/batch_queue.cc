#include "dataplane/core/batch_queue.h"

namespace jsontcplb {

void BatchQueue::push_back(Batch batch) {
  bytes_ += batch.size();
  lines_ += batch.lines();
  batches_.push_back(std::move(batch));
}

void BatchQueue::push_front(std::vector<Batch> batches) {
  for (auto it = batches.rbegin(); it != batches.rend(); ++it) {
    bytes_ += it->size();
    lines_ += it->lines();
    batches_.push_front(std::move(*it));
  }
}

std::vector<Batch> BatchQueue::pop(std::size_t max_bytes) {
  std::vector<Batch> out;
  std::size_t taken = 0;
  while (!batches_.empty()) {
    const std::size_t size = batches_.front().size();
    if (!out.empty() && taken + size > max_bytes) break;
    taken += size;
    bytes_ -= size;
    lines_ -= batches_.front().lines();
    out.push_back(std::move(batches_.front()));
    batches_.pop_front();
  }
  return out;
}

}  // namespace jsontcplb
