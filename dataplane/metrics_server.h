#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace jsontcplb {

/// Limits of the metrics endpoint: the port listens on every interface by default, so anyone
/// may connect, send half a request and wait.
struct MetricsServerLimits {
  /// A connection that has not sent a whole request head within this is closed (also the
  /// keep-alive idle time between requests).
  std::chrono::milliseconds request_timeout = std::chrono::seconds(5);
  /// Deadline for writing one response to a client that does not read it.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  /// Open connections at once; a new one beyond it closes the connection that has waited
  /// longest for its request, so a flood of idle clients cannot lock scrapers out.
  std::size_t max_connections = 64;
  /// Bytes of one request head; more is answered 431 and closed.
  std::size_t max_request_bytes = 8 * 1024;
};

/// Serves a registry in the Prometheus text format at http://ADDRESS/metrics from a thread of
/// its own (an Asio io_context; one coroutine per connection, so a slow client costs a socket
/// and a small buffer, never a thread). That thread only reads the registry; it never touches
/// data-plane state.
class MetricsServer {
 public:
  /// `address` as accepted by parse_metrics_address (already validated). Logs
  /// "metrics listening on HOST:PORT" with the port actually bound. On failure the status
  /// names the address.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry,
      MetricsServerLimits limits = {});
  /// Stops serving (open connections are closed) and joins the thread.
  ~MetricsServer();

  std::uint16_t port() const { return port_; }

  class Impl;

 private:
  MetricsServer() = default;
  std::shared_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace jsontcplb
