#include "dataplane/metrics_server.h"

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <exception>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"

namespace jsontcplb {
namespace {

// Scrapes are rare and cheap; two threads let a slow scraper not block another.
constexpr std::size_t kHttpThreads = 2;

}  // namespace

MetricsServer::~MetricsServer() = default;

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry) {
  auto parsed = parse_metrics_address(address);
  if (auto* e = std::get_if<std::string>(&parsed)) return absl::InvalidArgumentError(*e);
  TargetAddress bind = std::get<TargetAddress>(parsed);
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  try {
    // civetweb's listening_ports syntax: IPv4:PORT; port 0 binds any free port.
    server->exposer_ = std::make_unique<prometheus::Exposer>(bind.to_string(), kHttpThreads);
  } catch (const std::exception& e) {
    return absl::UnavailableError(str_cat("cannot serve metrics on ", address,
                                          " (address in use or not available: ", e.what(), ")"));
  }
  server->exposer_->RegisterCollectable(registry);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        str_cat("cannot serve metrics on ", address, ": no listening port"));
  }
  server->port_ = static_cast<std::uint16_t>(ports.front());
  bind.port = server->port_;
  LB_LOG(kInfo, "metrics listening on ", bind.to_string(), " (Prometheus text format at /metrics)");
  return server;
}

}  // namespace jsontcplb
