#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "dataplane/core/batch.h"

namespace jsontcplb {

/// Batches written on one upstream connection and not yet acknowledged by the target's TCP.
///
/// Offsets count bytes handed to the socket since the connection started (ciphertext for TLS),
/// the same unit as the kernel's `tcpi_bytes_acked`. A batch is released once the acknowledged
/// offset reaches the offset at which it ends.
class Ledger {
 public:
  struct Released {
    std::size_t batches = 0;
    std::size_t bytes = 0;  ///< Payload bytes (not wire bytes).
    std::uint64_t lines = 0;
  };
  struct Unacked {
    Released delivered;          ///< Acknowledged, including whole lines cut from a batch.
    std::vector<Batch> batches;  ///< To send again, oldest first.
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
  /// Drops every batch that ends at or before `acked_offset`.
  Released release(std::uint64_t acked_offset);
  /// Removes and returns every batch still held, oldest first (for requeueing after a failure).
  std::vector<Batch> take_all();
  /// After a failure: releases what `acked_offset` covers and takes the rest. With exact offsets
  /// a batch acknowledged in part is cut after its last acknowledged '\n', so lines the target
  /// received whole are not sent twice.
  Unacked take_unacked(std::uint64_t acked_offset);

  bool empty() const { return entries_.empty(); }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t lines() const { return lines_; }

 private:
  struct Entry {
    Batch batch;
    std::uint64_t end_offset;
  };
  bool exact_offsets_;
  std::deque<Entry> entries_;
  std::size_t bytes_ = 0;
  std::uint64_t lines_ = 0;
};

}  // namespace jsontcplb
