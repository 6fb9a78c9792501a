#include "dataplane/core/units.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "dataplane/core/str_cat.h"

namespace jsontcplb {
namespace {

struct Unit {
  std::string_view suffix;
  double nanos;
};
// Longest suffixes first so "ms" is not read as "m".
constexpr Unit kDurationUnits[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},  {"ms", 1e6},
                                   {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
    if (n == 0) return std::nullopt;
    double number = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, number);
    if (ec != std::errc() || ptr != text.data() + n) return std::nullopt;
    text.remove_prefix(n);
    const Unit* unit = nullptr;
    for (const Unit& u : kDurationUnits) {
      if (text.starts_with(u.suffix)) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    text.remove_prefix(unit->suffix.size());
    total += number * unit->nanos;
  }
  if (total > static_cast<double>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(total)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns < 1'000'000'000) {
    if (ns % 1'000'000 == 0) return str_cat(out, ns / 1'000'000, "ms");
    if (ns % 1'000 == 0) return str_cat(out, ns / 1'000, "us");
    return str_cat(out, ns, "ns");
  }
  std::int64_t h = ns / 3'600'000'000'000;
  ns %= 3'600'000'000'000;
  std::int64_t m = ns / 60'000'000'000;
  ns %= 60'000'000'000;
  if (h > 0) str_append(out, h, "h");
  if (m > 0) str_append(out, m, "m");
  if (ns > 0) {
    std::string seconds = str_cat(static_cast<double>(ns) / 1e9);
    str_append(out, seconds, "s");
  }
  return out;
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  std::uint64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view suffix(ptr, text.data() + text.size() - ptr);
  std::uint64_t multiplier = 1;
  if (suffix.empty() || suffix == "B") {
    multiplier = 1;
  } else if (suffix == "K" || suffix == "KB" || suffix == "KiB" || suffix == "k") {
    multiplier = 1ULL << 10;
  } else if (suffix == "M" || suffix == "MB" || suffix == "MiB") {
    multiplier = 1ULL << 20;
  } else if (suffix == "G" || suffix == "GB" || suffix == "GiB") {
    multiplier = 1ULL << 30;
  } else {
    return std::nullopt;
  }
  if (number > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
  return number * multiplier;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ULL << 30) == 0) return str_cat(bytes >> 30, "GiB");
  if (bytes != 0 && bytes % (1ULL << 20) == 0) return str_cat(bytes >> 20, "MiB");
  if (bytes != 0 && bytes % (1ULL << 10) == 0) return str_cat(bytes >> 10, "KiB");
  return str_cat(bytes);
}

}  // namespace jsontcplb
