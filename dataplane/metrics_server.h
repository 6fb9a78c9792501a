#pragma once

#include <absl/status/statusor.h>

#include <cstdint>
#include <memory>
#include <string>

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace jsontcplb {

/// Serves a registry in the Prometheus text format at http://ADDRESS/metrics, on the HTTP
/// server's own threads (civetweb, via prometheus-cpp's Exposer). Those threads only read the
/// registry; they never touch data-plane state.
class MetricsServer {
 public:
  /// `address` as accepted by parse_metrics_address (already validated). Logs
  /// "metrics listening on HOST:PORT" with the port actually bound. On failure the status
  /// names the address.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsServer();

  std::uint16_t port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::uint16_t port_ = 0;
};

}  // namespace jsontcplb
