// LineSplitter against a reference model of its contract.
//
// Input: byte 0 picks max_line_bytes (1..256), byte 1 read_bytes (1..256), bytes 2-3 seed the
// sizes of the reads (some fill the space prepare() offers, as a busy socket does; some are
// short) and when the splitter is released between reads (an idle client); the rest is the
// client's stream.
//
// The model: lines are split at '\n'. A line longer than max_line_bytes (not counting its
// '\n'; a fragment at EOF counts too) is rejected in the read that brings its
// (max_line_bytes + 1)th byte, and that read's batch still holds every line before it. Without
// a rejection, EOF appends '\n' to a carried fragment. So the batches, concatenated, are the
// stream up to the rejected line, or the whole stream with a final '\n' added if it lacked one.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "dataplane/core/line_splitter.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using jsontcplb::Batch;
using jsontcplb::LineSplitter;

struct Expected {
  std::string output;  // what the batches must add up to
  bool rejected = false;
  std::size_t rejected_at = 0;  // index of the byte that makes a line too long
};

Expected model(std::string_view stream, std::size_t max_line) {
  Expected out;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t nl = stream.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? stream.size() : nl;
    if (end - pos > max_line) {
      out.rejected = true;
      out.rejected_at = pos + max_line;
      return out;
    }
    out.output.append(stream.substr(pos, end - pos));
    out.output.push_back('\n');
    pos = end + 1;
  }
  return out;
}

// xorshift32: the read sizes follow from the input, so a crash reproduces exactly.
std::uint32_t next(std::uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

void check_batch(const Batch& batch, std::string& output) {
  const std::string_view bytes = batch.bytes();
  FUZZ_CHECK(batch.empty() || bytes.back() == '\n', "a batch must end in '\\n'");
  FUZZ_CHECK(
      batch.lines() == static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n')),
      "lines() must count the '\\n' of the batch");
  output.append(bytes);
}

void check_count_newlines(std::string_view bytes) {
  const auto expected = static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  FUZZ_CHECK(jsontcplb::count_newlines(bytes) == expected, "count_newlines");
  FUZZ_CHECK(jsontcplb::detail::count_newlines_sse2(bytes) == expected, "count_newlines_sse2");
#if defined(__x86_64__)
  if (jsontcplb::detail::has_avx2()) {
    FUZZ_CHECK(jsontcplb::detail::count_newlines_avx2(bytes) == expected, "count_newlines_avx2");
  }
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::size_t max_line = 1 + std::size_t{data[0]};
  const std::size_t read_bytes = 1 + std::size_t{data[1]};
  std::uint32_t state = (std::uint32_t{data[2]} << 8 | data[3]) + 1;  // never 0
  const std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);
  check_count_newlines(stream);

  const Expected expected = model(stream, max_line);
  // The carried fragment never exceeds max_line, so prepare() never needs more than this.
  const std::size_t capacity_bound = std::max(max_line + read_bytes, 2 * max_line);

  LineSplitter splitter(read_bytes, max_line);
  std::string output;
  std::size_t offset = 0;
  bool rejected = false;
  while (offset < stream.size()) {
    const std::span<char> space = splitter.prepare();
    FUZZ_CHECK(space.size() >= read_bytes, "prepare() must offer at least read_bytes");
    const std::uint32_t r = next(state);
    if (r % 8 == 0) {  // nothing to read: the session releases the buffer and waits
      splitter.release();
      FUZZ_CHECK(splitter.capacity() == splitter.carried(), "release() keeps only the fragment");
      continue;
    }
    std::size_t n = r % 4 == 1 ? space.size() : 1 + (r >> 8) % space.size();
    n = std::min(n, stream.size() - offset);
    std::memcpy(space.data(), stream.data() + offset, n);
    LineSplitter::Result result = splitter.commit(n);
    check_batch(result.batch, output);
    const bool holds_rejected_byte =
        expected.rejected && expected.rejected_at >= offset && expected.rejected_at < offset + n;
    FUZZ_CHECK(result.line_too_long == holds_rejected_byte,
               "line_too_long in read [" + std::to_string(offset) + ", " +
                   std::to_string(offset + n) + "); the model rejects at byte " +
                   (expected.rejected ? std::to_string(expected.rejected_at) : "none"));
    offset += n;
    if (result.line_too_long) {  // the session closes the client here
      rejected = true;
      break;
    }
    FUZZ_CHECK(splitter.carried() <= max_line, "a carried fragment longer than max_line_bytes");
    FUZZ_CHECK(splitter.capacity() <= capacity_bound,
               "capacity " + std::to_string(splitter.capacity()) + " above " +
                   std::to_string(capacity_bound));
  }
  FUZZ_CHECK(rejected == expected.rejected, "the splitter and the model disagree on a rejection");
  if (!rejected) check_batch(splitter.finish(), output);
  FUZZ_CHECK(output == expected.output, "batches differ from the model's output");
  return 0;
}
