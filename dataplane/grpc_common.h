#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_context.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/core/control_api_options.h"

namespace boost::asio {
class io_context;
}

// The gRPC pieces json-tcp-lb, lb-controlplane and lbctl share: how a control API is protected
// and served, and how a client authenticates.
namespace jsontcplb {

/// absl and gRPC share the canonical status codes.
grpc::Status to_grpc(const absl::Status& status);

/// What protects a control API: the bearer token (empty: none) and the server credentials
/// (TLS, and client certificates when a client CA is given).
struct ServerSecurity {
  std::string token;
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

/// Reads the -control-token-file and TLS files. INVALID_ARGUMENT names the flag and the file.
absl::StatusOr<ServerSecurity> load_server_security(const ControlApiOptions& options);

/// UNAUTHENTICATED unless the call carries `authorization: Bearer <token>` (compared in constant
/// time); nothing to refuse when `token` is empty.
std::optional<grpc::Status> check_bearer_token(const grpc::CallbackServerContext& context,
                                               const std::string& token);

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  std::uint16_t port = 0;
};

/// Serves `service` on options.addr with the gRPC health service and reflection, and without
/// SO_REUSEPORT (a second process on the same address must fail, not share the calls). Logs
/// "<what> listening on HOST:PORT" with the port bound. UNAVAILABLE when it cannot serve.
/// Requests larger than this are refused (RESOURCE_EXHAUSTED) by the gRPC servers.
inline constexpr int kMaxRequestBytes = 1 << 20;
/// Concurrent calls one client connection may have open.
inline constexpr int kMaxStreamsPerConnection = 100;

absl::StatusOr<StartedServer> start_grpc_server(const ControlApiOptions& options,
                                                const ServerSecurity& security,
                                                grpc::Service& service, std::string_view what);

/// Stops `server` (waiting up to a second for calls under way) while running `io`, so calls that
/// posted work to the io_context can still finish from there. For after io.run() returned.
void shutdown_grpc_server(grpc::Server& server, boost::asio::io_context& io);

/// The files a gRPC client is configured with, and the flags that named them (for errors).
struct ClientSecurityFiles {
  std::string token_file;
  std::string tls_ca;  ///< TLS when this or tls_cert is set; empty = the system's roots.
  std::string tls_cert, tls_key;
  std::string_view token_flag = "token-file";
  std::string_view ca_flag = "tls-ca";
  std::string_view cert_flag = "tls-cert";
  std::string_view key_flag = "tls-key";
};

/// A bearer token (whitespace around it trimmed) and channel credentials for a client.
struct ClientSecurity {
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

/// Reads the client's files; INVALID_ARGUMENT names the flag and the file.
absl::StatusOr<ClientSecurity> load_client_security(const ClientSecurityFiles& files);

}  // namespace jsontcplb
