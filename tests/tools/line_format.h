#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lbtest {

// The test line format. One line is exactly
//   {"run":"R","stream":S,"seq":N,"ts":T,"pad":"xxx"}\n
// with decimal numbers without leading zeros and a pad of 'x' that brings the line to the
// requested size. The format is deliberately rigid: parse_line() accepts only what
// append_line() writes, so any merge, truncation or corrupted byte shows up as malformed (or,
// for a digit changed into another digit, as a different id, which the Verifier then reports
// as missing plus duplicate/unexpected).

/// True for 1..64 characters of [A-Za-z0-9._-]; such a run id needs no JSON escaping.
bool is_valid_run_id(std::string_view run_id);

/// Length of the line (with its '\n') when the pad is empty.
std::size_t min_line_size(std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                          std::uint64_t ts_ns = 0);

/// Appends one line of exactly max(size, min_line_size(...)) bytes, '\n' included, without
/// allocating when `out` has the capacity. Throws std::invalid_argument for a bad run id.
void append_line(std::string& out, std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                 std::size_t size, std::uint64_t ts_ns = 0);

/// The same line as a new string.
std::string make_line(std::string_view run_id, std::uint32_t stream, std::uint64_t seq,
                      std::size_t size, std::uint64_t ts_ns = 0);

/// The identity of a well-formed line. `run` points into the parsed text.
struct LineId {
  std::string_view run;
  std::uint32_t stream = 0;
  std::uint64_t seq = 0;
  std::uint64_t ts_ns = 0;

  bool operator==(const LineId&) const = default;
};

/// Parses one line given without its '\n'; nothing but the exact format is accepted.
std::optional<LineId> parse_line(std::string_view line);

}  // namespace lbtest
