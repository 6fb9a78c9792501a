#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "jsontcplb/v1/control.grpc.pb.h"
#include "jsontcplb/v1/fleet.grpc.pb.h"

namespace jsontcplb::cli {

/// How to reach a control API: json-tcp-lb's or lb-controlplane's.
struct ConnectionOptions {
  std::string server = "127.0.0.1:9001";
  std::string token_file;         ///< Bearer token, whitespace around it trimmed.
  std::string tls_ca;             ///< TLS when this or tls_cert is set; empty = the system's roots.
  std::string tls_cert, tls_key;  ///< Client certificate for mutual TLS.
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);  ///< Deadline of unary calls.
};

/// A synchronous stub with the token, the TLS credentials and the per-call deadline applied,
/// and error messages that tell "the server refused" apart from "there is no server".
class ControlClient {
 public:
  /// Reads the token and certificate files; on failure returns a message naming the flag and
  /// the file.
  static std::variant<std::unique_ptr<ControlClient>, std::string> create(
      const ConnectionOptions& options);

  /// json-tcp-lb's service.
  v1::DataPlaneControl::Stub& stub() { return *stub_; }
  /// lb-controlplane's service, on the same channel.
  v1::FleetControl::Stub& fleet_stub() { return *fleet_stub_; }

  /// A context carrying the token, with the deadline when `unary`.
  std::unique_ptr<grpc::ClientContext> make_context(bool unary) const;

  /// Runs `call(grpc::ClientContext*)` with a fresh unary context.
  template <typename Call>
  grpc::Status unary(Call&& call) const {
    auto context = make_context(true);
    return call(context.get());
  }

  /// One line for stderr, without "lbctl: ": "CODE: message", or "cannot reach json-tcp-lb
  /// control API at ADDR: ..." when no connection could be made.
  std::string describe_failure(const grpc::Status& status) const;

 private:
  ControlClient(ConnectionOptions options, std::string token,
                std::shared_ptr<grpc::Channel> channel);

  ConnectionOptions options_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DataPlaneControl::Stub> stub_;
  std::unique_ptr<v1::FleetControl::Stub> fleet_stub_;
};

/// "INVALID_ARGUMENT", "UNAVAILABLE", ...
std::string status_code_name(grpc::StatusCode code);

}  // namespace jsontcplb::cli
