#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "dataplane/core/options.h"

namespace grpc {
class Server;
}

namespace jsontcplb {

class Proxy;
class ControlService;

/// The gRPC control API of one data plane (jsontcplb.v1.DataPlaneControl, plus health and
/// reflection). Handlers run on gRPC's threads and never touch data-plane state: each one posts
/// its work to the io_context and finishes the RPC from there, so no handler blocks a thread.
class ControlServer {
 public:
  struct StartError {
    int exit_code;
    std::string message;
  };
  static std::variant<std::unique_ptr<ControlServer>, StartError> start(
      const Options& options, boost::asio::io_context& io, std::shared_ptr<Proxy> proxy);
  ~ControlServer();

  std::uint16_t port() const { return port_; }
  /// Stops serving. Call after io.run() returned: keeps running `io` meanwhile so calls already
  /// posted to it can finish and status watchers get a last update.
  void shutdown(boost::asio::io_context& io, Proxy& proxy);

 private:
  ControlServer() = default;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace jsontcplb
