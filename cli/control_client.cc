#include "cli/control_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "dataplane/core/str_cat.h"
#include "dataplane/core/text_file.h"

namespace jsontcplb::cli {

std::variant<std::unique_ptr<ControlClient>, std::string> ControlClient::create(
    const ConnectionOptions& options) {
  std::string token;
  if (!options.token_file.empty()) {
    auto text = read_file(options.token_file);
    if (!text) return str_cat("cannot read -token-file \"", options.token_file, "\"");
    token = std::string(trim_space(*text));
    if (token.empty()) return str_cat("-token-file \"", options.token_file, "\" is empty");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return std::string("-tls-cert and -tls-key go together");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca.empty() && options.tls_cert.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    struct File {
      const char* flag;
      const std::string& path;
      std::string& pem;
    };
    for (const File& f : {File{"-tls-ca", options.tls_ca, ssl.pem_root_certs},
                          File{"-tls-cert", options.tls_cert, ssl.pem_cert_chain},
                          File{"-tls-key", options.tls_key, ssl.pem_private_key}}) {
      if (f.path.empty()) continue;
      auto pem = read_file(f.path);
      if (!pem || pem->empty()) return str_cat("cannot read ", f.flag, " \"", f.path, "\"");
      f.pem = std::move(*pem);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateChannel(options.server, credentials);
  return std::unique_ptr<ControlClient>(
      new ControlClient(options, std::move(token), std::move(channel)));
}

ControlClient::ControlClient(ConnectionOptions options, std::string token,
                             std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      token_(std::move(token)),
      channel_(std::move(channel)),
      stub_(v1::DataPlaneControl::NewStub(channel_)) {}

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
    return str_cat("cannot reach json-tcp-lb control API at ", options_.server, ": ",
                   status.error_message().empty() ? status_code_name(code)
                                                  : std::string_view(status.error_message()));
  }
  return str_cat(status_code_name(code), ": ", status.error_message());
}

std::string_view status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace jsontcplb::cli
