#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lbtest {

/// What a Verifier saw, measured against one expected run. Every line is counted in exactly
/// one of ok, duplicate, unexpected and malformed, so total == ok + duplicate + unexpected +
/// malformed.
struct Report {
  std::uint64_t total = 0;       ///< Lines given to the Verifier.
  std::uint64_t ok = 0;          ///< Distinct expected ids seen.
  std::uint64_t duplicate = 0;   ///< Extra copies of expected ids.
  std::uint64_t malformed = 0;   ///< Lines that did not parse.
  std::uint64_t missing = 0;     ///< Expected ids never seen.
  std::uint64_t unexpected = 0;  ///< Parsed lines of another run, stream or seq range.

  /// Every expected line exactly once and nothing else.
  bool exactly_once() const;
  /// Every expected line at least once, nothing malformed or foreign (duplicates allowed).
  bool at_least_once() const;
  std::string to_json() const;
  std::string to_string() const;
};

/// Counts received test lines per (run, stream, seq). Thread-safe.
class Verifier {
 public:
  /// One line without its '\n'.
  void add_line(std::string_view line);
  /// Text that ended without its '\n' (its connection closed mid-line, or it was too long):
  /// one malformed line, however well-formed it looks.
  void add_fragment(std::string_view text);
  /// A block of whole lines, each ending in '\n'; text after the last '\n' is ignored (callers
  /// give that fragment to add_line once they know it is final). Returns the lines counted.
  std::uint64_t add_lines(std::string_view text);

  /// Expected: run `run`, streams [first_stream, first_stream + streams), seq [0, lines).
  Report report(std::string_view run, std::uint32_t streams, std::uint64_t lines_per_stream,
                std::uint32_t first_stream = 0) const;

  std::uint64_t total_lines() const;
  std::uint64_t malformed_lines() const;
  /// The first few malformed lines (each cut to 256 bytes), for test failure messages.
  std::vector<std::string> malformed_samples() const;

 private:
  // Dense counters for seq < kDenseLimit (uint8, saturating); anything beyond (a huge seq or a
  // count past 255) goes to `extra`, so counts stay exact and memory stays bounded.
  struct StreamCounts {
    std::vector<std::uint8_t> dense;
    std::unordered_map<std::uint64_t, std::uint64_t> extra;
    std::uint64_t copies = 0;

    void add(std::uint64_t seq);
    std::uint64_t count(std::uint64_t seq) const;
  };
  using RunCounts = std::unordered_map<std::uint32_t, StreamCounts>;

  void add_line_locked(std::string_view line);
  void add_malformed_locked(std::string_view text);

  mutable std::mutex mu_;
  std::map<std::string, RunCounts, std::less<>> runs_;
  std::uint64_t total_ = 0;
  std::uint64_t malformed_ = 0;
  std::vector<std::string> malformed_samples_;
};

}  // namespace lbtest
