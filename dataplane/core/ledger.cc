#include "dataplane/core/ledger.h"

namespace jsontcplb {

void Ledger::record(Batch batch, std::uint64_t end_offset) {
  bytes_ += batch.size();
  lines_ += batch.lines();
  entries_.push_back(Entry{std::move(batch), end_offset});
}

Ledger::Released Ledger::release(std::uint64_t acked_offset) {
  Released released;
  while (!entries_.empty() && entries_.front().end_offset <= acked_offset) {
    const Batch& batch = entries_.front().batch;
    ++released.batches;
    released.bytes += batch.size();
    released.lines += batch.lines();
    entries_.pop_front();
  }
  bytes_ -= released.bytes;
  lines_ -= released.lines;
  return released;
}

std::vector<Batch> Ledger::take_all() {
  std::vector<Batch> out;
  out.reserve(entries_.size());
  for (Entry& e : entries_) out.push_back(std::move(e.batch));
  entries_.clear();
  bytes_ = 0;
  lines_ = 0;
  return out;
}

}  // namespace jsontcplb
