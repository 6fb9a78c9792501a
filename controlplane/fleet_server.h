#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>

#include "dataplane/core/control_api_options.h"

namespace grpc {
class Server;
}

namespace jsontcplb::controlplane {

class ControlPlane;
class FleetService;

/// lb-controlplane's gRPC API (jsontcplb.v1.FleetControl, plus health and reflection), with the
/// data plane's protection rules. Handlers post their work to the control-plane thread and
/// finish the call from there.
class FleetServer {
 public:
  static absl::StatusOr<std::unique_ptr<FleetServer>> start(const ControlApiOptions& options,
                                                            boost::asio::io_context& io,
                                                            std::shared_ptr<ControlPlane> cp);
  ~FleetServer();
  std::uint16_t port() const { return port_; }
  /// Stops serving; call after io.run() returned (it runs `io` meanwhile).
  void shutdown(boost::asio::io_context& io);

 private:
  FleetServer() = default;
  std::unique_ptr<FleetService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace jsontcplb::controlplane
