#include "dataplane/core/line_splitter.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace jsontcplb {
namespace {

// A batch smaller than this fraction of its block is copied out, so the queue never pins a
// 64 KiB block for a 100-byte read: memory held stays within 2x the bytes accounted.
constexpr std::size_t kCopyBelowDivisor = 2;

}  // namespace

namespace detail {

std::size_t count_newlines_sse2(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::size_t count = 0;
#if defined(__SSE2__)
  // Each compare yields 0xFF (-1) per matching byte; subtracting it counts matches per byte
  // lane. A lane can count to 255, so the lanes are summed (psadbw) every 255 blocks.
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (n >= 16) {
    const std::size_t blocks = std::min<std::size_t>(n / 16, 255);
    __m128i lanes = zero;
    for (std::size_t i = 0; i < blocks; ++i, p += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(v, newline));
    }
    const __m128i sums = _mm_sad_epu8(lanes, zero);
    count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    n -= blocks * 16;
  }
#endif
  return count + static_cast<std::size_t>(std::count(p, p + n, '\n'));
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) std::size_t count_newlines_avx2(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::size_t count = 0;
  // 128 bytes per step; the four compares are added first (each lane gains at most 4 per
  // step), so lanes are summed every 63 steps.
  const __m256i newline = _mm256_set1_epi8('\n');
  const __m256i zero = _mm256_setzero_si256();
  while (n >= 128) {
    const std::size_t steps = std::min<std::size_t>(n / 128, 63);
    __m256i lanes = zero;
    for (std::size_t i = 0; i < steps; ++i, p += 128) {
      const auto* v = reinterpret_cast<const __m256i*>(p);
      const __m256i a = _mm256_add_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(v), newline),
                                        _mm256_cmpeq_epi8(_mm256_loadu_si256(v + 1), newline));
      const __m256i b = _mm256_add_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(v + 2), newline),
                                        _mm256_cmpeq_epi8(_mm256_loadu_si256(v + 3), newline));
      lanes = _mm256_sub_epi8(lanes, _mm256_add_epi8(a, b));
    }
    const __m256i sums = _mm256_sad_epu8(lanes, zero);
    count += static_cast<std::size_t>(_mm256_extract_epi64(sums, 0)) +
             static_cast<std::size_t>(_mm256_extract_epi64(sums, 1)) +
             static_cast<std::size_t>(_mm256_extract_epi64(sums, 2)) +
             static_cast<std::size_t>(_mm256_extract_epi64(sums, 3));
    n -= steps * 128;
  }
  return count + count_newlines_sse2({p, n});
}
#endif

bool has_avx2() {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

}  // namespace detail

std::size_t count_newlines(std::string_view bytes) {
#if defined(__x86_64__)
  if (detail::has_avx2()) return detail::count_newlines_avx2(bytes);
#endif
  return detail::count_newlines_sse2(bytes);
}

LineSplitter::LineSplitter(std::size_t read_bytes, std::size_t max_line_bytes)
    : read_bytes_(read_bytes), max_line_bytes_(max_line_bytes) {}

void LineSplitter::reallocate(std::size_t capacity) {
  // for_overwrite: a read fills the block, so zero-filling it first would be wasted work.
  auto block = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(block.get(), buf_.get(), size_);
  buf_ = std::move(block);
  capacity_ = capacity;
}

std::span<char> LineSplitter::prepare() {
  if (capacity_ - size_ < read_bytes_) {
    // A line longer than a read grows its block geometrically, not by a read at a time.
    reallocate(std::max(size_ + read_bytes_, size_ >= read_bytes_ ? 2 * size_ : 0));
  }
  return {buf_.get() + size_, capacity_ - size_};
}

void LineSplitter::release() {
  if (capacity_ == size_) return;
  if (size_ == 0) {
    buf_.reset();
    capacity_ = 0;
    return;
  }
  reallocate(size_);
}

std::size_t LineSplitter::scan_exact(std::size_t begin, std::size_t end, std::size_t& lines) {
  const char* base = buf_.get();
  std::size_t line_start = begin;
  while (line_start < end) {
    const auto* nl =
        static_cast<const char*>(std::memchr(base + line_start, '\n', end - line_start));
    const auto pos = static_cast<std::size_t>(nl - base);
    if (pos - line_start > max_line_bytes_) {
      failed_ = true;
      break;
    }
    ++lines;
    line_start = pos + 1;
  }
  return line_start;
}

LineSplitter::Result LineSplitter::commit(std::size_t n) {
  Result result;
  if (failed_ || n == 0) return result;
  const std::size_t old_size = size_;
  size_ += n;
  char* base = buf_.get();
  // The first '\n' of this read ends a line that may have begun in the carried bytes.
  const auto* first = static_cast<const char*>(std::memchr(base + old_size, '\n', n));
  if (first == nullptr || static_cast<std::size_t>(first - base) > max_line_bytes_) {
    result.line_too_long = failed_ = size_ > max_line_bytes_;
    if (failed_) size_ = 0;
    return result;
  }
  const auto first_end = static_cast<std::size_t>(first - base) + 1;
  const auto last_end =
      static_cast<std::size_t>(
          static_cast<const char*>(memrchr(first, '\n', size_ - (first_end - 1))) - base) +
      1;
  std::size_t lines = 1;
  std::size_t cut = last_end;
  if (last_end - first_end <= max_line_bytes_) {
    // No line between the first and the last '\n' can be too long: just count them.
    lines += count_newlines({base + first_end, last_end - first_end});
  } else {
    cut = scan_exact(first_end, last_end, lines);
  }
  if (!failed_ && size_ - cut > max_line_bytes_) failed_ = true;
  result.line_too_long = failed_;

  const std::size_t rest = failed_ ? 0 : size_ - cut;
  if (cut * kCopyBelowDivisor < capacity_) {
    result.batch = Batch(std::string_view(base, cut), lines);
    std::memmove(base, base + cut, rest);
    size_ = rest;
  } else {
    // Hand the whole block to the batch (no copy of the lines); the fragment moves to a new
    // block. This is also how a block grown by a long line is given back.
    auto block = std::move(buf_);
    size_ = 0;
    capacity_ = 0;
    if (rest > 0) {
      // Only the fragment: the next prepare() adds the read space, so a session waiting for
      // room in the queue holds a partial line, not a whole read block.
      reallocate(rest);
      std::memcpy(buf_.get(), block.get() + cut, rest);
      size_ = rest;
    }
    result.batch = Batch(std::move(block), cut, lines);
  }
  return result;
}

Batch LineSplitter::finish() {
  if (failed_ || size_ == 0) return {};
  auto block = std::make_unique_for_overwrite<char[]>(size_ + 1);
  std::memcpy(block.get(), buf_.get(), size_);
  block[size_] = '\n';
  Batch tail(std::move(block), size_ + 1, 1);
  size_ = 0;
  return tail;
}

}  // namespace jsontcplb
