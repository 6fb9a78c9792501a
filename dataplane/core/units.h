#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jsontcplb {

/// Go-style duration: "300ms", "1.5s", "5m", "1h30m", "0". Units: ns us ms s m h.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
/// Shortest Go-style form, e.g. "5m0s" is printed as "5m", 1500ms as "1.5s".
std::string format_duration(std::chrono::nanoseconds d);

/// A size in bytes: "16384", "16KiB", "64MiB", "1GiB" (K/M/G and KB/MB/GB are taken as
/// binary multiples too, as people write them for buffers).
std::optional<std::uint64_t> parse_bytes(std::string_view text);
/// "16KiB" when exact, else the plain number.
std::string format_bytes(std::uint64_t bytes);

}  // namespace jsontcplb
