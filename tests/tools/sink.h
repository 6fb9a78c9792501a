#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/tools/host_port.h"
#include "tests/tools/verifier.h"

namespace lbtest {

struct SinkOptions {
  /// Listeners on `host` with port 0, unless `listen` names the addresses.
  std::size_t ports = 1;
  std::string host = "127.0.0.1";
  std::vector<HostPort> listen;          ///< When non-empty, used instead of ports/host.
  std::string tls_cert, tls_key;         ///< PEM files; TLS when both are set.
  std::uint64_t rate_bytes_per_sec = 0;  ///< Per connection read rate limit, 0 = unlimited.
  int rcvbuf = 0;                        ///< SO_RCVBUF for accepted sockets, 0 = default.
  bool keep_lines = false;               ///< Keep a copy of every line (small tests only).
  /// False: only count lines ('\n's), skip the Verifier (benchmarks, where parsing every
  /// line would make the sink the bottleneck).
  bool verify = true;
  /// Called on the sink's thread for every complete line (without '\n'). It must not call
  /// back into the Sink's blocking methods (close_port, reopen_port).
  std::function<void(std::size_t port_index, std::uint16_t port, std::string_view line)> on_line;
};

/// A receiving end for tests: listens on one or more ports, splits every connection's bytes
/// into lines and hands them to a Verifier. Runs its own io_context on its own thread; every
/// method may be called from any other thread.
class Sink {
 public:
  /// Binds every listener (throws std::system_error if one cannot be bound, or if the TLS
  /// files cannot be loaded) and starts the thread.
  explicit Sink(SinkOptions options);
  /// Stops the thread and drops every connection.
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  /// The bound port numbers, in listener order.
  std::vector<std::uint16_t> ports() const;
  std::size_t port_count() const;

  /// Lines handed to the Verifier from this listener's connections (malformed included).
  std::uint64_t lines(std::size_t port_index) const;
  /// Bytes read from this listener's connections (after TLS decryption).
  std::uint64_t bytes(std::size_t port_index) const;
  /// Accepted connections that are still open.
  std::size_t connections(std::size_t port_index) const;
  /// Connections accepted since the start.
  std::uint64_t accepted(std::size_t port_index) const;
  /// Partial lines dropped because close_port() cut their connection mid-line. They are not
  /// malformed: the sender could not have seen them acknowledged as whole lines.
  std::uint64_t cut_lines(std::size_t port_index) const;
  std::uint64_t total_lines() const;
  std::uint64_t total_bytes() const;
  /// CLOCK_REALTIME nanoseconds of the first and the latest read that returned data (0: none).
  std::uint64_t first_byte_unix_ns() const;
  std::uint64_t last_byte_unix_ns() const;

  /// Waits until total_lines() >= n; false on timeout.
  bool wait_for_total_lines(std::uint64_t n, std::chrono::milliseconds timeout) const;
  /// Waits until `done()` is true, re-checking whenever the sink's state changes (lines read,
  /// connections opened or closed); false on timeout.
  bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) const;

  /// Stops listening on this port and closes its connections: abort=false closes normally,
  /// abort=true resets them (SO_LINGER 0). Before closing, every byte the kernel has already
  /// acknowledged is read and counted: the sockets are shut down in both directions first
  /// (after which Linux answers new data with RST instead of acknowledging it, and the peer
  /// sees our FIN just before the RST), and connections still waiting in the accept queue are
  /// taken and drained too. Returns once the connections are gone; false if that took over 10 s.
  bool close_port(std::size_t port_index, bool abort);
  /// A receiver stopping the way many do: stops accepting (connections waiting in the accept
  /// queue are taken and treated like the others), shuts down its write side (the peer sees
  /// FIN), keeps reading at its pace for `keep_reading`, then closes every connection with
  /// whatever its kernel still holds unread (so Linux resets them). Those bytes are counted in
  /// unread_at_close(); a line it had read only in part is counted in cut_lines(). Returns once
  /// the connections are gone; false if that took over 10 s after `keep_reading`.
  bool stop_port_after_fin(std::size_t port_index, std::chrono::milliseconds keep_reading);
  /// Bytes the kernel held unread when stop_port_after_fin() closed this port's connections.
  std::uint64_t unread_at_close(std::size_t port_index) const;
  /// Bytes the kernel held unread when close_port() or stop_port_after_fin() sent FIN.
  std::uint64_t unread_at_fin(std::size_t port_index) const;
  /// Listens again on the same port number (SO_REUSEADDR); a no-op while it is listening.
  /// Throws std::system_error if the port cannot be bound.
  void reopen_port(std::size_t port_index);

  const Verifier& verifier() const;
  /// Every line received so far, without '\n' (only with keep_lines).
  std::vector<std::string> received_lines() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbtest
