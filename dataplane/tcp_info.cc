// Includes only <linux/tcp.h> for struct tcp_info: glibc's <netinet/tcp.h> (pulled in by Asio)
// has an older struct without tcpi_bytes_acked and clashes with the kernel header.
#include "dataplane/tcp_info.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace jsontcplb {

std::optional<TcpProgress> tcp_progress(int fd) {
  struct tcp_info info = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof info.tcpi_snd_wnd) {
    return std::nullopt;  // kernel older than 5.4
  }
  constexpr int kTcpClose = 7;  // TCP_CLOSE in the kernel's <net/tcp_states.h>
  return TcpProgress{.bytes_acked = info.tcpi_bytes_acked,
                     .peer_window = info.tcpi_snd_wnd,
                     .closed = info.tcpi_state == kTcpClose};
}

}  // namespace jsontcplb
