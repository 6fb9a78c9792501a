#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dataplane/core/flag_parser.h"

namespace jsontcplb {

/// Where a process serves its gRPC control API and how the API is protected; json-tcp-lb and
/// lb-controlplane share the flags and the rule.
struct ControlApiOptions {
  std::string addr = {};  ///< host:port, port 0 for any free port; "off" disables it.
  std::string token_file = {};
  std::string tls_cert = {};
  std::string tls_key = {};
  std::string client_ca = {};
  bool insecure = false;

  bool enabled() const { return addr != "off"; }
};

/// -control-addr (default `default_addr`), -control-token-file, -control-tls-cert,
/// -control-tls-key, -control-client-ca and -control-insecure.
void add_control_api_flags(FlagParser& flags, ControlApiOptions& options,
                           const std::string& default_addr);

/// The rule: listening beyond loopback needs a bearer token or mTLS, or an explicit
/// -control-insecure; a client CA needs a certificate and key. One line naming the flag, the
/// value and the rule when it is broken.
std::optional<std::string> validate_control_api(const ControlApiOptions& options);

}  // namespace jsontcplb
