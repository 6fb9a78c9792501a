#include "dataplane/core/config_validation.h"

#include <arpa/inet.h>

#include "dataplane/core/str_cat.h"

namespace jsontcplb {

std::optional<std::string> validate_connections(std::int64_t connections, std::string_view field) {
  if (connections < 1 || connections > kMaxConnectionsPerTarget) {
    return str_cat(field, ": ", connections, " is out of range; connections must be from 1 to ",
                   kMaxConnectionsPerTarget);
  }
  return std::nullopt;
}

std::variant<TargetAddress, std::string> parse_listen_address(std::string_view text) {
  auto parsed = parse_target_address(text, /*allow_port_zero=*/true);
  if (std::holds_alternative<std::string>(parsed)) {
    return str_cat("bad listen address \"", text, "\": expected HOST:PORT or [IPv6]:PORT");
  }
  return parsed;
}

std::variant<TargetAddress, std::string> parse_metrics_address(std::string_view text) {
  auto bad = [&](std::string_view rule) {
    return str_cat("bad metrics address \"", text, "\": ", rule);
  };
  std::string copy(text);
  if (copy.starts_with(':')) copy.insert(0, "0.0.0.0");
  auto parsed = parse_listen_address(copy);
  if (std::holds_alternative<std::string>(parsed)) {
    return bad("expected IPv4:PORT, [IPv6]:PORT or :PORT, with a port from 0 to 65535");
  }
  auto address = std::get<TargetAddress>(parsed);
  if (address.host == "localhost") address.host = "127.0.0.1";
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, address.host.c_str(), &v4) != 1 &&
      ::inet_pton(AF_INET6, address.host.c_str(), &v6) != 1) {
    return bad("the host must be an IP address (or localhost, or empty for every IPv4 interface)");
  }
  return address;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace jsontcplb
