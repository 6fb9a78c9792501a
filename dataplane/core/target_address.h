#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jsontcplb {

/// A target as given on the command line: "host:port", "1.2.3.4:port" or "[v6]:port".
struct TargetAddress {
  std::string host;  ///< Without brackets for IPv6 literals.
  std::uint16_t port = 0;

  /// Canonical text form: IPv6 literals get their brackets back.
  std::string to_string() const;
  bool operator==(const TargetAddress&) const = default;
};

/// Parses one address. On failure returns a message naming the value and the rule.
/// `allow_port_zero`: for listen addresses, where port 0 means any free port.
std::variant<TargetAddress, std::string> parse_target_address(std::string_view text,
                                                              bool allow_port_zero = false);

/// Parses a comma-separated list (spaces around entries are ignored). Refuses an empty list and
/// duplicates; the message names the offending entry.
std::variant<std::vector<TargetAddress>, std::string> parse_target_list(std::string_view text);

}  // namespace jsontcplb
