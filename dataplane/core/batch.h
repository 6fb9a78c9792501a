#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jsontcplb {

/// A block of whole lines (always ends in '\n') that travels from a client to a target.
///
/// Move-only: a batch is owned by exactly one place at a time (a queue, a worker's write, a
/// ledger), so ownership needs no reference count. Views handed to a gather write stay valid
/// because the ledger keeps the batch until the target acknowledged it.
class Batch {
 public:
  Batch() = default;
  /// `bytes` must be empty or end in '\n'; `lines` is the number of '\n' in it.
  Batch(std::string bytes, std::size_t lines) : bytes_(std::move(bytes)), lines_(lines) {}
  Batch(Batch&&) noexcept = default;
  Batch& operator=(Batch&&) noexcept = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  std::string_view bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  std::size_t lines() const { return lines_; }
  bool empty() const { return bytes_.empty(); }

 private:
  std::string bytes_;
  std::size_t lines_ = 0;
};

}  // namespace jsontcplb
