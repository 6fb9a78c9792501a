#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace jsontcplb {

/// A block of whole lines (always ends in '\n') that travels from a client to a target.
///
/// Move-only: a batch is owned by exactly one place at a time (a queue, a worker's write, a
/// ledger), so ownership needs no reference count. Views handed to a gather write stay valid
/// because the ledger keeps the batch until the target acknowledged it. The bytes live in a
/// plain heap block rather than a std::string so that a read buffer can become a batch without
/// being copied, and a fresh read buffer need not be zero-filled first.
class Batch {
 public:
  Batch() = default;
  /// Copies `bytes`, which must be empty or end in '\n'; `lines` is the number of '\n' in it.
  Batch(std::string_view bytes, std::size_t lines) : size_(bytes.size()), lines_(lines) {
    if (size_ == 0) return;
    data_ = std::make_unique_for_overwrite<char[]>(size_);
    std::memcpy(data_.get(), bytes.data(), size_);
  }
  /// Adopts `block`, whose first `size` bytes are the lines (the rest of the block is unused).
  Batch(std::unique_ptr<char[]> block, std::size_t size, std::size_t lines)
      : data_(std::move(block)), size_(size), lines_(lines) {}
  Batch(Batch&& other) noexcept
      : data_(std::move(other.data_)),
        size_(std::exchange(other.size_, 0)),
        lines_(std::exchange(other.lines_, 0)) {}
  Batch& operator=(Batch&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    lines_ = std::exchange(other.lines_, 0);
    return *this;
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  std::string_view bytes() const { return {data_.get(), size_}; }
  std::size_t size() const { return size_; }
  std::size_t lines() const { return lines_; }
  bool empty() const { return size_ == 0; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t lines_ = 0;
};

}  // namespace jsontcplb
