#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lbtest {

/// An address to listen on or dial: "127.0.0.1:9000", "localhost:0", "[::1]:9000".
struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  /// Brackets IPv6 literals again.
  std::string to_string() const;
};

/// Parses HOST:PORT; port 0 is accepted (listen on any free port).
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace lbtest
