#include "cli/control_client.h"

#include <absl/status/status.h>
#include <grpcpp/create_channel.h>

#include "dataplane/core/str_cat.h"
#include "dataplane/grpc_common.h"

namespace jsontcplb::cli {

std::variant<std::unique_ptr<ControlClient>, std::string> ControlClient::create(
    const ConnectionOptions& options) {
  auto security = load_client_security({.token_file = options.token_file,
                                        .tls_ca = options.tls_ca,
                                        .tls_cert = options.tls_cert,
                                        .tls_key = options.tls_key});
  if (!security.ok()) return std::string(security.status().message());
  auto channel = grpc::CreateChannel(options.server, security->credentials);
  return std::unique_ptr<ControlClient>(
      new ControlClient(options, std::move(security->token), std::move(channel)));
}

ControlClient::ControlClient(ConnectionOptions options, std::string token,
                             std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      token_(std::move(token)),
      channel_(std::move(channel)),
      stub_(v1::DataPlaneControl::NewStub(channel_)),
      fleet_stub_(v1::FleetControl::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> ControlClient::make_context(bool unary) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (unary) context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
  if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
  return context;
}

std::string ControlClient::describe_failure(const grpc::Status& status) const {
  const auto code = status.error_code();
  // A refusal comes over a working connection; a channel that never got READY means the
  // server is not there (or the TLS handshake failed), whatever the call's own code says.
  if ((code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED) &&
      channel_->GetState(false) != GRPC_CHANNEL_READY) {
    return str_cat(
        "cannot reach json-tcp-lb control API at ", options_.server, ": ",
        status.error_message().empty() ? status_code_name(code) : status.error_message());
  }
  return str_cat(status_code_name(code), ": ", status.error_message());
}

std::string status_code_name(grpc::StatusCode code) {
  // gRPC and absl share the canonical codes, and absl has their names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace jsontcplb::cli
