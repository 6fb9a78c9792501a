#include "tests/tools/proc_stats.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lbtest {
namespace {

constexpr int kListen = 10;

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return n;
}

// "0100007F:B6FD" (or a 32-digit IPv6 address) -> the port.
std::optional<std::uint16_t> port_of(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = parse_hex(address.substr(colon + 1));
  if (!port || *port > 0xffff) return std::nullopt;
  return static_cast<std::uint16_t>(*port);
}

// Appends the sockets of one /proc/net/tcp* file; false if it cannot be opened. The kernel
// writes the file in pieces, so a socket created while it is read can be listed twice: each
// connection (local and remote address) is taken once.
bool read_table(const char* path, std::vector<TcpSocketStats>& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::set<std::string> seen;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx_queue:rx_queue ...
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    if (!(fields >> slot >> local >> remote >> state >> queues)) continue;
    const std::size_t colon = queues.find(':');
    auto local_port = port_of(local);
    auto remote_port = port_of(remote);
    auto st = parse_hex(state);
    if (colon == std::string::npos || !local_port || !remote_port || !st) continue;
    auto tx = parse_hex(std::string_view(queues).substr(0, colon));
    auto rx = parse_hex(std::string_view(queues).substr(colon + 1));
    if (!tx || !rx || !seen.insert(local + " " + remote).second) continue;
    out.push_back(TcpSocketStats{*local_port, *remote_port, static_cast<int>(*st), *tx, *rx});
  }
  return true;
}

std::optional<std::uint64_t> status_kib(int pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(field) || line.size() <= field.size() || line[field.size()] != ':') {
      continue;
    }
    std::istringstream value(line.substr(field.size() + 1));
    std::uint64_t kib = 0;
    if (value >> kib) return kib * 1024;
  }
  return std::nullopt;
}

}  // namespace

std::vector<TcpSocketStats> tcp_sockets() {
  std::vector<TcpSocketStats> out;
  if (!read_table("/proc/net/tcp", out)) throw std::runtime_error("cannot read /proc/net/tcp");
  read_table("/proc/net/tcp6", out);  // absent when IPv6 is disabled
  return out;
}

std::vector<TcpSocketStats> connections_on_local_port(std::uint16_t port) {
  std::vector<TcpSocketStats> out;
  for (const TcpSocketStats& s : tcp_sockets()) {
    if (s.local_port == port && s.state != kListen) out.push_back(s);
  }
  return out;
}

std::vector<TcpSocketStats> connections_to_remote_port(std::uint16_t port) {
  std::vector<TcpSocketStats> out;
  for (const TcpSocketStats& s : tcp_sockets()) {
    if (s.remote_port == port && s.state != kListen) out.push_back(s);
  }
  return out;
}

QueueTotals sum_queues(const std::vector<TcpSocketStats>& sockets) {
  QueueTotals totals;
  for (const TcpSocketStats& s : sockets) {
    totals.send += s.send_queue;
    totals.recv += s.recv_queue;
    ++totals.sockets;
  }
  return totals;
}

std::optional<std::uint64_t> peak_rss_bytes(int pid) { return status_kib(pid, "VmHWM"); }

std::optional<std::uint64_t> rss_bytes(int pid) { return status_kib(pid, "VmRSS"); }

std::optional<std::uint64_t> data_bytes(int pid) { return status_kib(pid, "VmData"); }

std::optional<std::size_t> open_fds(int pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return std::nullopt;
  std::size_t n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n;
}

std::optional<double> process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace lbtest
