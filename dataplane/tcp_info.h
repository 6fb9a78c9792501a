#pragma once

#include <cstdint>
#include <optional>

namespace jsontcplb {

/// What TCP_INFO says about how far the peer got with what this socket sent.
struct TcpProgress {
  /// Bytes the peer's TCP acknowledged (`tcpi_bytes_acked`), counted from the start of the
  /// connection (the SYN and FIN may count one each). Still readable after a reset.
  std::uint64_t bytes_acked = 0;
  /// The receive window the peer advertised last (`tcpi_snd_wnd`), in bytes: the room left in
  /// its receive buffer, which shrinks by what it holds acknowledged and unread.
  std::uint32_t peer_window = 0;
  /// TCP_CLOSE: the connection is over (reset, or both FINs exchanged).
  bool closed = false;
};

/// Null when TCP_INFO cannot be read or the kernel lacks the fields (before Linux 5.4).
std::optional<TcpProgress> tcp_progress(int fd);

}  // namespace jsontcplb
