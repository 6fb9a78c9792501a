#include "dataplane/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <functional>
#include <string_view>

#include "dataplane/core/options.h"
#include "dataplane/core/str_cat.h"

namespace jsontcplb {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 and up, with -tls-ciphersuites. The server side chooses by our order rather than the
// client's (as Go's crypto/tls does), except that a client listing ChaCha20 first (one without
// AES instructions) gets it.
absl::StatusOr<std::unique_ptr<ssl::context>> new_context(ssl::context::method method,
                                                          const Options& o) {
  auto context = std::make_unique<ssl::context>(method);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_options(context->native_handle(),
                      SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  if (SSL_CTX_set_ciphersuites(context->native_handle(), o.tls_ciphersuites.c_str()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        str_cat("invalid value \"", o.tls_ciphersuites,
                "\" for -tls-ciphersuites: not a colon-separated list of TLS 1.3 cipher suites "
                "OpenSSL knows (the default is ",
                kDefaultTlsCiphersuites, ")"));
  }
  return context;
}

// Runs `action`, which reads the PEM file `path`; the error names the flag.
absl::Status load(std::string_view flag, const std::string& path,
                  const std::function<void()>& action) {
  try {
    action();
  } catch (const boost::system::system_error& e) {
    return absl::InvalidArgumentError(
        str_cat("invalid value \"", path, "\" for -", flag, ": ", e.code().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ssl::context>> make_client_tls(const Options& o) {
  auto made = new_context(ssl::context::tls_server, o);
  if (!made.ok()) return made.status();
  std::unique_ptr<ssl::context> context = *std::move(made);
  ssl::context& c = *context;
  if (auto s = load("tls-cert", o.tls_cert, [&] { c.use_certificate_chain_file(o.tls_cert); });
      !s.ok()) {
    return s;
  }
  if (auto s =
          load("tls-key", o.tls_key, [&] { c.use_private_key_file(o.tls_key, ssl::context::pem); });
      !s.ok()) {
    return s;
  }
  if (!o.tls_client_ca.empty()) {
    if (auto s =
            load("tls-client-ca", o.tls_client_ca, [&] { c.load_verify_file(o.tls_client_ca); });
        !s.ok()) {
      return s;
    }
    c.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return context;
}

absl::StatusOr<std::unique_ptr<ssl::context>> make_target_tls(const Options& o) {
  auto made = new_context(ssl::context::tls_client, o);
  if (!made.ok()) return made.status();
  std::unique_ptr<ssl::context> context = *std::move(made);
  if (o.tls_target_skip_verify) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  context->set_verify_mode(ssl::verify_peer);
  if (o.tls_target_ca.empty()) {
    context->set_default_verify_paths();
  } else if (auto s = load("tls-target-ca", o.tls_target_ca,
                           [&] { context->load_verify_file(o.tls_target_ca); });
             !s.ok()) {
    return s;
  }
  return context;
}

}  // namespace jsontcplb
