#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "dataplane/core/batch.h"

namespace jsontcplb {

/// Number of '\n' in `bytes`: SIMD compares (AVX2 where the CPU has it, else SSE2), several
/// times faster than a memchr per line when lines are short.
std::size_t count_newlines(std::string_view bytes);

namespace detail {
// The implementations behind count_newlines, for tests.
std::size_t count_newlines_sse2(std::string_view bytes);
#if defined(__x86_64__)
std::size_t count_newlines_avx2(std::string_view bytes);
#endif
bool has_avx2();
}  // namespace detail

/// Turns the bytes of one client stream into batches of whole lines.
///
/// Usage: read into `prepare()`, then `commit(n)`. Everything up to the last '\n' seen becomes a
/// batch; the rest is carried into the next read. Bytes are never altered (CR, NUL and invalid
/// UTF-8 pass through), except that `finish()` appends '\n' to a trailing fragment so it cannot
/// merge with another client's line on a shared upstream connection.
///
/// Memory: the read space is allocated by `prepare()` and, when a read fills at least half of
/// it, handed to the batch without a copy. `release()` gives it back while the client is idle,
/// so an idle client holds only its carried fragment, not a whole read buffer.
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
  /// Changes the space offered to the following reads.
  void set_read_bytes(std::size_t read_bytes) { read_bytes_ = read_bytes; }
  /// Accounts `n` bytes written into the span from `prepare()`.
  Result commit(std::size_t n);
  /// At end of stream: the carried fragment plus '\n', or an empty batch.
  Batch finish();
  /// Frees the read space, keeping only the carried fragment (for a client with nothing to read).
  void release();

  /// Bytes carried (an incomplete line waiting for its '\n').
  std::size_t carried() const { return size_; }
  /// Bytes allocated for the carried fragment and the read space.
  std::size_t capacity() const { return capacity_; }

 private:
  /// Moves the carried bytes into a new block of `capacity` bytes.
  void reallocate(std::size_t capacity);
  /// Checks every line in [begin, end) (each ending in '\n') against max_line_bytes; returns
  /// one past the last acceptable '\n' and counts those lines into `lines`.
  std::size_t scan_exact(std::size_t begin, std::size_t end, std::size_t& lines);

  std::size_t read_bytes_;
  std::size_t max_line_bytes_;
  std::unique_ptr<char[]> buf_;  // [0, size_) holds carried bytes
  std::size_t capacity_ = 0;     // bytes allocated in buf_
  std::size_t size_ = 0;         // bytes held in buf_
  bool failed_ = false;
};

}  // namespace jsontcplb
