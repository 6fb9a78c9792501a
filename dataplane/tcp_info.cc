// Includes only <linux/tcp.h> for struct tcp_info: glibc's <netinet/tcp.h> (pulled in by Asio)
// has an older struct without tcpi_bytes_acked and clashes with the kernel header.
#include "dataplane/tcp_info.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace jsontcplb {

std::optional<std::uint64_t> tcp_bytes_acked(int fd) {
  struct tcp_info info = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) {
    return std::nullopt;  // kernel older than 4.1
  }
  return info.tcpi_bytes_acked;
}

}  // namespace jsontcplb
