#include "tests/tools/verifier.h"

#include <algorithm>
#include <limits>

#include "dataplane/core/str_cat.h"
#include "tests/tools/line_format.h"

namespace lbtest {
namespace {

// 256 Mi lines per stream in the dense array (at most 256 MiB); a corrupted, huge seq lands in
// the sparse map instead of allocating without bound.
constexpr std::uint64_t kDenseLimit = std::uint64_t{1} << 28;
constexpr std::uint8_t kSaturated = std::numeric_limits<std::uint8_t>::max();
constexpr std::size_t kMaxSamples = 8;
constexpr std::size_t kMaxSampleBytes = 256;

}  // namespace

bool Report::exactly_once() const {
  return duplicate == 0 && malformed == 0 && missing == 0 && unexpected == 0;
}

bool Report::at_least_once() const { return malformed == 0 && missing == 0 && unexpected == 0; }

std::string Report::to_json() const {
  return jsontcplb::str_cat("{\"total\":", total, ",\"ok\":", ok, ",\"duplicate\":", duplicate,
                            ",\"malformed\":", malformed, ",\"missing\":", missing,
                            ",\"unexpected\":", unexpected, "}");
}

std::string Report::to_string() const {
  return jsontcplb::str_cat("total=", total, " ok=", ok, " duplicate=", duplicate,
                            " malformed=", malformed, " missing=", missing,
                            " unexpected=", unexpected);
}

void Verifier::StreamCounts::add(std::uint64_t seq) {
  ++copies;
  if (seq < kDenseLimit) {
    if (seq >= dense.size()) {
      dense.resize(std::min(kDenseLimit, std::max<std::uint64_t>(seq + 1, dense.size() * 2)));
    }
    if (dense[seq] < kSaturated) {
      ++dense[seq];
      return;
    }
  }
  ++extra[seq];
}

std::uint64_t Verifier::StreamCounts::count(std::uint64_t seq) const {
  std::uint64_t n = seq < dense.size() ? dense[seq] : 0;
  if (!extra.empty()) {
    if (auto it = extra.find(seq); it != extra.end()) n += it->second;
  }
  return n;
}

void Verifier::add_line(std::string_view line) {
  std::lock_guard lock(mu_);
  add_line_locked(line);
}

void Verifier::add_fragment(std::string_view text) {
  std::lock_guard lock(mu_);
  ++total_;
  add_malformed_locked(text);
}

std::uint64_t Verifier::add_lines(std::string_view text) {
  std::uint64_t lines = 0;
  std::lock_guard lock(mu_);
  for (std::size_t end; (end = text.find('\n')) != std::string_view::npos;) {
    add_line_locked(text.substr(0, end));
    text.remove_prefix(end + 1);
    ++lines;
  }
  return lines;
}

void Verifier::add_line_locked(std::string_view line) {
  ++total_;
  std::optional<LineId> id = parse_line(line);
  if (!id) {
    add_malformed_locked(line);
    return;
  }
  auto run = runs_.find(id->run);
  if (run == runs_.end()) run = runs_.emplace(std::string(id->run), RunCounts{}).first;
  run->second[id->stream].add(id->seq);
}

void Verifier::add_malformed_locked(std::string_view text) {
  ++malformed_;
  if (malformed_samples_.size() < kMaxSamples) {
    malformed_samples_.emplace_back(text.substr(0, kMaxSampleBytes));
  }
}

Report Verifier::report(std::string_view run, std::uint32_t streams, std::uint64_t lines_per_stream,
                        std::uint32_t first_stream) const {
  std::lock_guard lock(mu_);
  Report r;
  r.total = total_;
  r.malformed = malformed_;
  const std::uint64_t stream_end = std::uint64_t{first_stream} + streams;
  std::uint32_t streams_seen = 0;
  for (const auto& [name, counts] : runs_) {
    for (const auto& [stream, seqs] : counts) {
      if (name != run || stream < first_stream || stream >= stream_end) {
        r.unexpected += seqs.copies;
        continue;
      }
      ++streams_seen;
      std::uint64_t expected_copies = 0;
      for (std::uint64_t seq = 0; seq < lines_per_stream; ++seq) {
        const std::uint64_t n = seqs.count(seq);
        if (n == 0) {
          ++r.missing;
        } else {
          ++r.ok;
          r.duplicate += n - 1;
          expected_copies += n;
        }
      }
      r.unexpected += seqs.copies - expected_copies;
    }
  }
  r.missing += std::uint64_t{streams - streams_seen} * lines_per_stream;
  return r;
}

std::uint64_t Verifier::total_lines() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::uint64_t Verifier::malformed_lines() const {
  std::lock_guard lock(mu_);
  return malformed_;
}

std::vector<std::string> Verifier::malformed_samples() const {
  std::lock_guard lock(mu_);
  return malformed_samples_;
}

}  // namespace lbtest
