#include "dataplane/core/line_splitter.h"

#include <cstring>

namespace jsontcplb {
namespace {

// A batch smaller than this fraction of its buffer is copied out, so the queue never pins a
// 16 KiB buffer for a 100-byte read: memory held stays within 2x the bytes accounted.
constexpr std::size_t kCopyBelowDivisor = 2;

}  // namespace

LineSplitter::LineSplitter(std::size_t read_bytes, std::size_t max_line_bytes)
    : read_bytes_(read_bytes), max_line_bytes_(max_line_bytes) {}

std::span<char> LineSplitter::prepare() {
  if (buf_.size() < size_ + read_bytes_) buf_.resize(size_ + read_bytes_);
  return {buf_.data() + size_, read_bytes_};
}

LineSplitter::Result LineSplitter::commit(std::size_t n) {
  Result result;
  if (failed_ || n == 0) return result;
  const std::size_t old_size = size_;
  size_ += n;
  const char* begin = buf_.data();
  // Count lines and find the longest one among the completed lines; the scan starts at the
  // new bytes but the first line may have begun in the carried bytes.
  std::size_t line_start = 0;
  std::size_t lines = 0;
  std::size_t last_newline_end = 0;  // one past the last '\n' of an acceptable line
  const char* p = begin + old_size;
  const char* end = begin + size_;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (nl == nullptr) break;
    std::size_t pos = nl - begin;
    if (pos - line_start > max_line_bytes_) {
      failed_ = true;
      result.line_too_long = true;
      break;
    }
    ++lines;
    line_start = pos + 1;
    last_newline_end = line_start;
    p = nl + 1;
  }
  if (!failed_ && size_ - line_start > max_line_bytes_) {
    failed_ = true;
    result.line_too_long = true;
  }
  if (lines == 0) return result;

  const std::size_t rest = size_ - last_newline_end;
  if (last_newline_end * kCopyBelowDivisor < buf_.size()) {
    result.batch = Batch(std::string(begin, last_newline_end), lines);
    std::memmove(buf_.data(), begin + last_newline_end, rest);
  } else {
    // Hand the whole buffer to the batch (no copy of the lines) and start a fresh one with the
    // fragment. This is also how a buffer grown by a long line is given back.
    std::string next(rest + read_bytes_, '\0');
    std::memcpy(next.data(), begin + last_newline_end, rest);
    buf_.resize(last_newline_end);
    result.batch = Batch(std::move(buf_), lines);
    buf_ = std::move(next);
  }
  size_ = rest;
  if (failed_) size_ = 0;
  return result;
}

Batch LineSplitter::finish() {
  if (failed_ || size_ == 0) return {};
  std::string bytes(buf_.data(), size_);
  bytes.push_back('\n');
  size_ = 0;
  return Batch(std::move(bytes), 1);
}

}  // namespace jsontcplb
