#pragma once

#include <cstdint>
#include <optional>

namespace jsontcplb {

/// Bytes of this connection the peer's TCP has acknowledged (`tcpi_bytes_acked`), counted from
/// the start of the connection. Still readable after a reset, holding its last value.
std::optional<std::uint64_t> tcp_bytes_acked(int fd);

/// Upstream socket settings: no Nagle delay, keepalive probes, and a TCP_USER_TIMEOUT so a
/// target that stops acknowledging is declared dead instead of holding lines forever.
void set_upstream_socket_options(int fd, unsigned user_timeout_ms);

}  // namespace jsontcplb
