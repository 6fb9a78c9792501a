#include "dataplane/grpc_common.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <openssl/crypto.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/text_file.h"

namespace jsontcplb {

grpc::Status to_grpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

// The contents of a file a server flag names.
absl::StatusOr<std::string> server_file(std::string_view flag, const std::string& path) {
  auto text = read_file(path);
  if (!text || text->empty()) {
    return absl::InvalidArgumentError(
        str_cat("invalid value \"", path, "\" for -", flag, ": the file is empty or unreadable"));
  }
  return *std::move(text);
}

}  // namespace

absl::StatusOr<ServerSecurity> load_server_security(const ControlApiOptions& o) {
  ServerSecurity out;
  if (!o.token_file.empty()) {
    auto text = server_file("control-token-file", o.token_file);
    if (!text.ok()) return text.status();
    out.token = std::string(trim_space(*text));
    if (out.token.empty()) {
      return absl::InvalidArgumentError(str_cat("invalid value \"", o.token_file,
                                                "\" for -control-token-file: the file is empty"));
    }
  }
  out.credentials = grpc::InsecureServerCredentials();
  if (!o.tls_cert.empty()) {
    auto cert = server_file("control-tls-cert", o.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = server_file("control-tls-key", o.tls_key);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
    if (!o.client_ca.empty()) {
      auto ca = server_file("control-client-ca", o.client_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    out.credentials = grpc::SslServerCredentials(ssl);
  }
  return out;
}

std::optional<grpc::Status> check_bearer_token(const grpc::CallbackServerContext& context,
                                               const std::string& token) {
  if (token.empty()) return std::nullopt;
  const auto& metadata = context.client_metadata();
  const std::string expected = "Bearer " + token;
  auto it = metadata.find("authorization");
  // Equal-time comparison, so the token cannot be guessed byte by byte from response times.
  if (it != metadata.end() && it->second.size() == expected.size() &&
      CRYPTO_memcmp(it->second.data(), expected.data(), expected.size()) == 0) {
    return std::nullopt;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "missing or wrong bearer token in the authorization metadata");
}

absl::StatusOr<StartedServer> start_grpc_server(const ControlApiOptions& options,
                                                const ServerSecurity& security,
                                                grpc::Service& service, std::string_view what) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The largest real request (a SetTargets at -max-targets) is tens of kilobytes; anything
  // bigger is refused with RESOURCE_EXHAUSTED before it is parsed.
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  builder.AddListeningPort(options.addr, security.credentials, &port);
  builder.RegisterService(&service);
  StartedServer started;
  started.server = builder.BuildAndStart();
  if (!started.server || port == 0) {
    return absl::UnavailableError(str_cat("cannot serve the ", what, " on ", options.addr,
                                          " (address in use, or a bad certificate/key?)"));
  }
  started.port = static_cast<std::uint16_t>(port);
  auto address = std::get<TargetAddress>(parse_listen_address(options.addr));
  address.port = started.port;
  LB_LOG(kInfo, what, " listening on ", address.to_string(),
         options.tls_cert.empty() ? "" : " (TLS)",
         options.client_ca.empty() ? "" : " (client certificates required)",
         options.token_file.empty() ? "" : " (bearer token required)");
  return started;
}

void shutdown_grpc_server(grpc::Server& server, boost::asio::io_context& io) {
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    server.Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    done = true;
  });
  io.restart();
  while (!done) io.run_for(std::chrono::milliseconds(20));
  stopper.join();
}

absl::StatusOr<ClientSecurity> load_client_security(const ClientSecurityFiles& f) {
  ClientSecurity out;
  if (!f.token_file.empty()) {
    auto text = read_file(f.token_file);
    if (!text) {
      return absl::InvalidArgumentError(
          str_cat("cannot read -", f.token_flag, " \"", f.token_file, "\""));
    }
    out.token = std::string(trim_space(*text));
    if (out.token.empty()) {
      return absl::InvalidArgumentError(
          str_cat("-", f.token_flag, " \"", f.token_file, "\" is empty"));
    }
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    return absl::InvalidArgumentError(
        str_cat("-", f.cert_flag, " and -", f.key_flag, " go together"));
  }
  if (f.tls_ca.empty() && f.tls_cert.empty()) {
    out.credentials = grpc::InsecureChannelCredentials();
    return out;
  }
  grpc::SslCredentialsOptions ssl;
  struct File {
    std::string_view flag;
    const std::string& path;
    std::string& pem;
  };
  for (const File& file : {File{f.ca_flag, f.tls_ca, ssl.pem_root_certs},
                           File{f.cert_flag, f.tls_cert, ssl.pem_cert_chain},
                           File{f.key_flag, f.tls_key, ssl.pem_private_key}}) {
    if (file.path.empty()) continue;
    auto pem = read_file(file.path);
    if (!pem || pem->empty()) {
      return absl::InvalidArgumentError(
          str_cat("cannot read -", file.flag, " \"", file.path, "\""));
    }
    file.pem = std::move(*pem);
  }
  out.credentials = grpc::SslCredentials(ssl);
  return out;
}

}  // namespace jsontcplb
