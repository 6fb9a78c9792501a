#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "dataplane/core/target_address.h"

namespace jsontcplb {

/// Most worker connections one target may have (and the default for every target).
inline constexpr int kMaxConnectionsPerTarget = 1024;

/// `connections` from 1 to kMaxConnectionsPerTarget; the error names `field` and the value.
std::optional<std::string> validate_connections(std::int64_t connections, std::string_view field);

/// A listen address "host:port" or "[v6]:port" where port 0 means any free port.
std::variant<TargetAddress, std::string> parse_listen_address(std::string_view text);

/// The metrics HTTP address: "IPv4:PORT", "[IPv6]:PORT", "localhost:PORT" or ":PORT" (every
/// IPv4 interface); port 0 means any free port. The result's host is an IP literal ("0.0.0.0"
/// for ":PORT").
std::variant<TargetAddress, std::string> parse_metrics_address(std::string_view text);

/// True for "localhost", 127.0.0.0/8 and ::1.
bool is_loopback_host(std::string_view host);

}  // namespace jsontcplb
