#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "dataplane/core/batch.h"

namespace jsontcplb {

/// Turns the bytes of one client stream into batches of whole lines.
///
/// Usage: read into `prepare()`, then `commit(n)`. Everything up to the last '\n' seen becomes a
/// batch; the rest is carried into the next read. Bytes are never altered (CR, NUL and invalid
/// UTF-8 pass through), except that `finish()` appends '\n' to a trailing fragment so it cannot
/// merge with another client's line on a shared upstream connection.
class LineSplitter {
 public:
  struct Result {
    Batch batch;                 ///< Whole lines completed by this read; may be empty.
    bool line_too_long = false;  ///< A line exceeded max_line_bytes; the client must be closed.
  };

  /// `read_bytes`: space offered to each read. `max_line_bytes`: longest line accepted, not
  /// counting its '\n'.
  LineSplitter(std::size_t read_bytes, std::size_t max_line_bytes);

  /// Writable space for the next read (at least `read_bytes` long).
  std::span<char> prepare();
  /// Accounts `n` bytes written into the span from `prepare()`.
  Result commit(std::size_t n);
  /// At end of stream: the carried fragment plus '\n', or an empty batch.
  Batch finish();

  /// Bytes carried (an incomplete line waiting for its '\n').
  std::size_t carried() const { return size_; }

 private:
  std::size_t read_bytes_;
  std::size_t max_line_bytes_;
  std::string buf_;       // [0, size_) holds carried bytes
  std::size_t size_ = 0;  // bytes held in buf_
  bool failed_ = false;
};

}  // namespace jsontcplb
