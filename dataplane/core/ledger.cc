#include "dataplane/core/ledger.h"

#include <algorithm>
#include <limits>

namespace jsontcplb {
namespace {

constexpr std::uint64_t kNeverAcknowledged = std::numeric_limits<std::uint64_t>::max();

}  // namespace

void Ledger::record(Batch batch, std::uint64_t end_offset) {
  bytes_ += batch.size();
  lines_ += batch.lines();
  entries_.push_back(Entry{std::move(batch), end_offset});
}

void Ledger::record_write(std::vector<Batch> batches, std::uint64_t start, std::uint64_t end,
                          bool complete) {
  std::uint64_t offset = start;
  for (Batch& batch : batches) {
    if (exact_offsets_) {
      offset += batch.size();
    } else {
      offset = complete ? end : kNeverAcknowledged;
    }
    record(std::move(batch), offset);
  }
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

Ledger::Unacked Ledger::take_unacked(std::uint64_t acked_offset) {
  Unacked out;
  out.delivered = release(acked_offset);
  if (exact_offsets_ && !entries_.empty()) {
    Entry& first = entries_.front();
    const std::uint64_t start = first.end_offset - first.batch.size();
    if (acked_offset > start) {
      const std::string_view bytes = first.batch.bytes();
      const std::size_t acked = static_cast<std::size_t>(acked_offset - start);
      const std::size_t last_newline = bytes.rfind('\n', acked - 1);
      if (last_newline != std::string_view::npos) {
        const std::size_t cut = last_newline + 1;
        const auto lines = static_cast<std::size_t>(
            std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut), '\n'));
        out.delivered.bytes += cut;
        out.delivered.lines += lines;
        bytes_ -= cut;
        lines_ -= lines;
        first.batch = Batch(bytes.substr(cut), first.batch.lines() - lines);
      }
    }
  }
  out.batches = take_all();
  return out;
}

}  // namespace jsontcplb
