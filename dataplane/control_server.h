#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>

namespace grpc {
class Server;
}

namespace jsontcplb {

struct Options;
class DataPlane;
class ControlService;

/// The gRPC control API of one data plane (jsontcplb.v1.DataPlaneControl, plus health and
/// reflection). Handlers run on gRPC's threads and never touch data-plane state: each one posts
/// its work to the io_context and finishes the RPC from there, so no handler blocks a thread.
class ControlServer {
 public:
  /// Serves on -control-addr. INVALID_ARGUMENT when a flag's file cannot be used (exit status
  /// 2), UNAVAILABLE when the address cannot be served (exit status 1).
  static absl::StatusOr<std::unique_ptr<ControlServer>> start(
      const Options& options, boost::asio::io_context& io, std::shared_ptr<DataPlane> data_plane);
  ~ControlServer();

  std::uint16_t port() const { return port_; }
  /// Stops serving. Call after io.run() returned: keeps running `io` meanwhile so calls already
  /// posted to it can finish and status watchers get a last update.
  void shutdown(boost::asio::io_context& io, DataPlane& data_plane);

 private:
  ControlServer() = default;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace jsontcplb
