#pragma once

namespace jsontcplb {

/// Upstream socket settings: no Nagle delay, keepalive probes, and a TCP_USER_TIMEOUT so a
/// target that stops acknowledging is declared dead instead of holding lines forever.
void set_upstream_socket_options(int fd, unsigned user_timeout_ms);

}  // namespace jsontcplb
