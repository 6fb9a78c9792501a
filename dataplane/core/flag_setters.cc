#include "dataplane/core/flag_setters.h"

#include <charconv>
#include <filesystem>
#include <fstream>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb::flags {

using Error = std::optional<std::string>;

FlagParser::Setter text(std::string& out) {
  return [&out](std::string_view v) -> Error {
    out = std::string(v);
    return std::nullopt;
  };
}

FlagParser::Setter boolean(bool& out) {
  return [&out](std::string_view v) -> Error {
    out = v == "true";
    return std::nullopt;
  };
}

namespace {

template <typename Int>
FlagParser::Setter whole_number_in_range(Int& out, long long lo, long long hi) {
  return [&out, lo, hi](std::string_view v) -> Error {
    long long n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
      return str_cat("must be a whole number from ", lo, " to ", hi);
    }
    if (n < lo || n > hi) return str_cat("must be from ", lo, " to ", hi);
    out = static_cast<Int>(n);
    return std::nullopt;
  };
}

}  // namespace

FlagParser::Setter int_in_range(int& out, long long lo, long long hi) {
  return whole_number_in_range(out, lo, hi);
}

FlagParser::Setter count_in_range(std::size_t& out, long long lo, long long hi) {
  return whole_number_in_range(out, lo, hi);
}

FlagParser::Setter bytes_in_range(std::size_t& out, std::uint64_t lo, std::uint64_t hi) {
  return [&out, lo, hi](std::string_view v) -> Error {
    auto n = parse_bytes(v);
    if (!n) return "must be a size in bytes such as 65536, 64KiB or 16MiB";
    if (*n < lo || *n > hi) {
      return str_cat("must be from ", format_bytes(lo), " to ", format_bytes(hi));
    }
    out = static_cast<std::size_t>(*n);
    return std::nullopt;
  };
}

FlagParser::Setter duration_at_least(std::chrono::milliseconds& out, std::chrono::milliseconds lo) {
  return [&out, lo](std::string_view v) -> Error {
    auto d = parse_duration(v);
    if (!d) return "must be a duration such as 500ms, 30s or 5m";
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (ms < lo) return str_cat("must be at least ", format_duration(lo));
    out = ms;
    return std::nullopt;
  };
}

FlagParser::Setter log_level(LogLevel& out) {
  return [&out](std::string_view v) -> Error {
    if (!parse_log_level(v, out)) return "must be error, warn, info or debug";
    return std::nullopt;
  };
}

FlagParser::Setter metrics_address(std::string& out) {
  return [&out](std::string_view v) -> Error {
    if (v != "off") {
      auto parsed = parse_metrics_address(v);
      if (auto* e = std::get_if<std::string>(&parsed)) return str_cat(*e, " (or off)");
    }
    out = std::string(v);
    return std::nullopt;
  };
}

bool readable_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && std::ifstream(path).good();
}

}  // namespace jsontcplb::flags
