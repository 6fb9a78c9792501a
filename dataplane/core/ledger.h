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

  /// Records a batch whose last byte sits at `end_offset` on the wire. Offsets must not decrease.
  void record(Batch batch, std::uint64_t end_offset);
  /// Drops every batch that ends at or before `acked_offset`.
  Released release(std::uint64_t acked_offset);
  /// Removes and returns every batch still held, oldest first (for requeueing after a failure).
  std::vector<Batch> take_all();

  bool empty() const { return entries_.empty(); }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t lines() const { return lines_; }

 private:
  struct Entry {
    Batch batch;
    std::uint64_t end_offset;
  };
  std::deque<Entry> entries_;
  std::size_t bytes_ = 0;
  std::uint64_t lines_ = 0;
};

}  // namespace jsontcplb
