#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>

namespace jsontcplb {

struct Options;

/// The TLS context for accepted clients (-tls-cert, -tls-key, -tls-client-ca), TLS 1.2 and up.
/// INVALID_ARGUMENT naming the flag and the value when a file or -tls-ciphersuites cannot be
/// used (make_target_tls too).
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> make_client_tls(const Options& options);

/// The TLS context for target connections (-tls-target-ca, -tls-target-skip-verify).
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> make_target_tls(const Options& options);

}  // namespace jsontcplb
