#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/log.h"

// FlagParser setters with json-tcp-lb's rules and messages, shared by every binary's flags.
namespace jsontcplb::flags {

FlagParser::Setter text(std::string& out);
/// Only "true" is true, as Go's flag package parses an attached boolean value.
FlagParser::Setter boolean(bool& out);
FlagParser::Setter int_in_range(int& out, long long lo, long long hi);
/// A count (no units) from `lo` to `hi`.
FlagParser::Setter count_in_range(std::size_t& out, long long lo, long long hi);
FlagParser::Setter bytes_in_range(std::size_t& out, std::uint64_t lo, std::uint64_t hi);
FlagParser::Setter duration_at_least(std::chrono::milliseconds& out, std::chrono::milliseconds lo);

/// error, warn, info or debug.
FlagParser::Setter log_level(LogLevel& out);
/// The Prometheus endpoint's address as parse_metrics_address() takes it, or "off".
FlagParser::Setter metrics_address(std::string& out);

/// A regular file we can open (a directory opens fine on Linux and fails only when read).
bool readable_file(const std::string& path);

}  // namespace jsontcplb::flags
