#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "dataplane/core/batch.h"

namespace jsontcplb {

/// Batches written on one upstream connection that the target may not have yet: written and
/// not acknowledged by its TCP, or acknowledged and perhaps still unread in its receive buffer
/// (retained, so that a target killed with lines unread loses none of them).
///
/// Offsets count bytes handed to the socket since the connection started (ciphertext for TLS),
/// the same unit as the kernel's `tcpi_bytes_acked`. A batch is acknowledged once the
/// acknowledged offset reaches the offset at which it ends, and read once the target can no
/// longer hold any of it unread.
class Ledger {
 public:
  struct Lines {
    std::size_t batches = 0;
    std::size_t bytes = 0;  ///< Payload bytes (not wire bytes).
    std::uint64_t lines = 0;
  };
  struct Progress {
    Lines acked;         ///< Newly acknowledged (now retained): credit them as delivered.
    Lines beyond_bound;  ///< Retained batches dropped unread only to respect `max_retained`.
  };
  /// What a connection that ended leaves to send again.
  struct Resend {
    Lines acked;                      ///< Newly acknowledged, including lines cut from a batch.
    std::vector<Batch> batches;       ///< Oldest first.
    std::uint64_t unacked_lines = 0;  ///< Lines among them its TCP did not acknowledge.
    std::uint64_t maybe_unread_lines = 0;  ///< Lines acknowledged but perhaps never read.
  };

  /// `exact_offsets`: each batch's bytes sit at [end - size, end) on the wire (plain TCP). With
  /// TLS the wire carries ciphertext, so only whole batches can be judged.
  explicit Ledger(bool exact_offsets = false) : exact_offsets_(exact_offsets) {}

  /// Records a batch whose last byte sits at `end_offset` on the wire. Offsets must not decrease.
  void record(Batch batch, std::uint64_t end_offset);
  /// Records the batches of one gather write that started at wire offset `start` and had put the
  /// wire at `end` when it returned. Exact offsets: each batch ends where its bytes end. TLS:
  /// records may span batches, so each ends at `end`; and when the write failed (`complete`
  /// false) none can ever count as acknowledged, since the wire may hold a part of any of them.
  void record_write(std::vector<Batch> batches, std::uint64_t start, std::uint64_t end,
                    bool complete);
  /// The target acknowledged the wire up to `acked` and may hold the last `unread` bytes of that
  /// unread. Batches ending at or before `acked` become retained; retained batches ending at or
  /// before `acked - unread` are dropped (read), and then the oldest while more than
  /// `max_retained` bytes are retained.
  Progress acknowledge(std::uint64_t acked, std::uint64_t unread, std::size_t max_retained);
  /// After the connection ended: takes every line from the wire offset `acked - unread` on (to
  /// the line with exact offsets, else to the batch) and empties the ledger.
  Resend take_unread(std::uint64_t acked, std::uint64_t unread);

  bool empty() const { return entries_.empty(); }
  /// Everything held, retained or not.
  std::size_t bytes() const { return unacked_.bytes + retained_.bytes; }
  std::uint64_t lines() const { return unacked_.lines + retained_.lines; }
  /// Written and not acknowledged, as of the last acknowledge().
  std::size_t unacked_bytes() const { return unacked_.bytes; }
  std::uint64_t unacked_lines() const { return unacked_.lines; }
  /// Acknowledged and perhaps unread.
  std::size_t retained_bytes() const { return retained_.bytes; }
  std::uint64_t retained_lines() const { return retained_.lines; }

 private:
  struct Entry {
    Batch batch;
    std::uint64_t end_offset;
    std::uint64_t start() const { return end_offset - batch.size(); }
  };
  void drop_front();
  /// Exact offsets: splits the batch that holds `offset` after its last '\n' before it.
  void split_at(std::uint64_t offset);

  bool exact_offsets_;
  std::deque<Entry> entries_;  // the first `retained_.batches` are retained
  Lines unacked_;
  Lines retained_;
};

}  // namespace jsontcplb
