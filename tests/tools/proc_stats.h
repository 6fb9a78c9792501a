#pragma once

#include <cstdint>
#include <optional>
#include <vector>

// What the kernel publishes under /proc about processes and TCP sockets, for tests that must
// measure memory or socket buffers rather than guess them. Linux only.
namespace lbtest {

/// One TCP socket of this network namespace (from /proc/net/tcp and /proc/net/tcp6).
struct TcpSocketStats {
  std::uint16_t local_port = 0;
  std::uint16_t remote_port = 0;
  int state = 0;  ///< The kernel's TCP state (1 ESTABLISHED, 8 CLOSE_WAIT, 10 LISTEN).
  std::uint64_t send_queue = 0;  ///< Bytes written and not yet acknowledged by the peer.
  std::uint64_t recv_queue = 0;  ///< Bytes received and acknowledged, not yet read by the owner.
};

/// Every TCP socket of this network namespace, IPv4 and IPv6. Throws std::runtime_error if
/// /proc/net/tcp cannot be read.
std::vector<TcpSocketStats> tcp_sockets();

/// Connections (listeners excluded) whose local port is `port`: a server's accepted sockets,
/// including those still waiting in its accept queue.
std::vector<TcpSocketStats> connections_on_local_port(std::uint16_t port);

/// Connections whose remote port is `port`: the clients' ends of a server's connections.
std::vector<TcpSocketStats> connections_to_remote_port(std::uint16_t port);

/// Sums of the queues of some sockets.
struct QueueTotals {
  std::uint64_t send = 0;
  std::uint64_t recv = 0;
  std::size_t sockets = 0;
};
QueueTotals sum_queues(const std::vector<TcpSocketStats>& sockets);

/// False in sanitizer builds (LB_SANITIZE): shadow memory and quarantines make a process use
/// several times its normal memory, so tests do not hold it to memory bounds there.
#ifdef LB_SANITIZED
inline constexpr bool kMemoryBoundsApply = false;
#else
inline constexpr bool kMemoryBoundsApply = true;
#endif

/// The process's resident set high-water mark (VmHWM) in bytes; nothing if it is gone.
std::optional<std::uint64_t> peak_rss_bytes(int pid);
/// Its current resident set (VmRSS) in bytes; nothing if it is gone.
std::optional<std::uint64_t> rss_bytes(int pid);
/// Its private data and heap (VmData) in bytes, touched or not: memory a process has asked
/// for, which a fresh process's resident set under-reports.
std::optional<std::uint64_t> data_bytes(int pid);
/// Its open file descriptors (entries of /proc/PID/fd); nothing if it is gone.
std::optional<std::size_t> open_fds(int pid);
/// CPU seconds it has used, user and system (/proc/PID/stat); nothing if it is gone.
std::optional<double> process_cpu_seconds(int pid);

}  // namespace lbtest
