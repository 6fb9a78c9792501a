#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

// FlagParser setters shared by lb-sink and lb-loadgen.
namespace lbtest::flags {

using Error = std::optional<std::string>;

inline jsontcplb::FlagParser::Setter text(std::string& out) {
  return [&out](std::string_view v) -> Error {
    out = std::string(v);
    return std::nullopt;
  };
}

inline jsontcplb::FlagParser::Setter boolean(bool& out) {
  return [&out](std::string_view v) -> Error {
    out = v == "true";
    return std::nullopt;
  };
}

/// A plain decimal number that fits T (unsigned integers, or a non-negative double).
template <typename T>
jsontcplb::FlagParser::Setter number(T& out) {
  return [&out](std::string_view v) -> Error {
    T n{};
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    bool bad = v.empty() || ec != std::errc() || ptr != v.data() + v.size();
    if constexpr (std::is_signed_v<T>) bad = bad || n < 0;
    if (bad) {
      if constexpr (std::is_floating_point_v<T>) return "must be a number, at least 0";
      return jsontcplb::str_cat("must be a whole number from 0 to ", std::numeric_limits<T>::max());
    }
    out = n;
    return std::nullopt;
  };
}

/// A size such as 65536, 64KiB or 16MiB that fits T.
template <typename T>
jsontcplb::FlagParser::Setter bytes(T& out) {
  return [&out](std::string_view v) -> Error {
    auto n = jsontcplb::parse_bytes(v);
    if (!n || *n > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      return jsontcplb::str_cat("must be a size in bytes up to ",
                                static_cast<std::uint64_t>(std::numeric_limits<T>::max()),
                                ", such as 65536, 64KiB or 16MiB");
    }
    out = static_cast<T>(*n);
    return std::nullopt;
  };
}

inline jsontcplb::FlagParser::Setter duration(std::chrono::milliseconds& out) {
  return [&out](std::string_view v) -> Error {
    auto d = jsontcplb::parse_duration(v);
    if (!d || d->count() < 0) return "must be a duration such as 500ms, 30s or 5m";
    out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    return std::nullopt;
  };
}

}  // namespace lbtest::flags
