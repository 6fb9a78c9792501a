#include "dataplane/core/ledger.h"

#include <algorithm>
#include <limits>

namespace jsontcplb {
namespace {

constexpr std::uint64_t kNeverAcknowledged = std::numeric_limits<std::uint64_t>::max();

void add(Ledger::Lines& to, const Batch& batch) {
  to.batches += 1;
  to.bytes += batch.size();
  to.lines += batch.lines();
}

void subtract(Ledger::Lines& from, const Batch& batch) {
  from.batches -= 1;
  from.bytes -= batch.size();
  from.lines -= batch.lines();
}

}  // namespace

void Ledger::record(Batch batch, std::uint64_t end_offset) {
  add(unacked_, batch);
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

void Ledger::drop_front() {
  subtract(retained_, entries_.front().batch);
  entries_.pop_front();
}

Ledger::Progress Ledger::acknowledge(std::uint64_t acked, std::uint64_t unread,
                                     std::size_t max_retained) {
  Progress progress;
  while (retained_.batches < entries_.size() && entries_[retained_.batches].end_offset <= acked) {
    const Batch& batch = entries_[retained_.batches].batch;
    subtract(unacked_, batch);
    add(retained_, batch);
    add(progress.acked, batch);
  }
  const std::uint64_t read_to = acked - std::min(acked, unread);
  while (retained_.batches > 0 && entries_.front().end_offset <= read_to) drop_front();
  while (retained_.batches > 0 && retained_.bytes > max_retained) {
    add(progress.beyond_bound, entries_.front().batch);
    drop_front();
  }
  return progress;
}

void Ledger::split_at(std::uint64_t offset) {
  if (!exact_offsets_) return;
  for (std::size_t i = entries_.size(); i-- > 0;) {
    Entry& e = entries_[i];
    if (e.end_offset <= offset) return;  // offsets only grow: no earlier batch holds it
    const std::uint64_t start = e.start();
    if (start >= offset) continue;
    const std::string_view bytes = e.batch.bytes();
    const std::size_t last_newline =
        bytes.rfind('\n', static_cast<std::size_t>(offset - start - 1));
    if (last_newline == std::string_view::npos) return;  // inside the batch's first line
    const std::size_t cut = last_newline + 1;
    const auto lines = static_cast<std::size_t>(
        std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut), '\n'));
    Batch head(bytes.substr(0, cut), lines);
    Batch tail(bytes.substr(cut), e.batch.lines() - lines);
    e.batch = std::move(tail);
    entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(i),
                    Entry{std::move(head), start + cut});
    ++(i < retained_.batches ? retained_ : unacked_).batches;
    return;
  }
}

Ledger::Resend Ledger::take_unread(std::uint64_t acked, std::uint64_t unread) {
  Resend out;
  // Whole lines before `acked` were acknowledged, whole lines before `acked - unread` read.
  split_at(acked);
  split_at(acked - std::min(acked, unread));
  out.acked = acknowledge(acked, unread, std::numeric_limits<std::size_t>::max()).acked;
  out.maybe_unread_lines = retained_.lines;
  out.unacked_lines = unacked_.lines;
  out.batches.reserve(entries_.size());
  for (Entry& e : entries_) out.batches.push_back(std::move(e.batch));
  entries_.clear();
  unacked_ = retained_ = Lines{};
  return out;
}

}  // namespace jsontcplb
