#pragma once

#include <string_view>

#include "dataplane/core/str_cat.h"

namespace jsontcplb {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

/// Lines go to stderr, one write per line, prefixed with a UTC timestamp and the level.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);

bool parse_log_level(std::string_view text, LogLevel& level);

}  // namespace jsontcplb

// Formats only when the level is enabled. Usage: LB_LOG(kInfo, "client ", addr, " closed");
#define LB_LOG(level, ...)                                                                    \
  do {                                                                                        \
    if (::jsontcplb::log_enabled(::jsontcplb::LogLevel::level))                               \
      ::jsontcplb::log_line(::jsontcplb::LogLevel::level, ::jsontcplb::str_cat(__VA_ARGS__)); \
  } while (0)
