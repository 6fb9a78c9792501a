#include "dataplane/core/control_api_options.h"

#include "dataplane/core/config_validation.h"
#include "dataplane/core/flag_setters.h"
#include "dataplane/core/str_cat.h"

namespace jsontcplb {

void add_control_api_flags(FlagParser& flags, ControlApiOptions& o,
                           const std::string& default_addr) {
  o.addr = default_addr;
  flags.add("control-addr", "host:port", default_addr,
            "gRPC control API address (lbctl); off disables it", flags::text(o.addr));
  flags.add("control-token-file", "file", "",
            "Require this bearer token (file contents) on control API calls",
            flags::text(o.token_file));
  flags.add("control-tls-cert", "file", "", "Serve the control API with TLS (PEM certificate)",
            flags::text(o.tls_cert));
  flags.add("control-tls-key", "file", "", "Key for -control-tls-cert (PEM)",
            flags::text(o.tls_key));
  flags.add("control-client-ca", "file", "",
            "Require control API client certificates signed by this CA (mTLS)",
            flags::text(o.client_ca));
  flags.add_bool("control-insecure", "Allow a non-loopback -control-addr without a token or mTLS",
                 flags::boolean(o.insecure));
}

std::optional<std::string> validate_control_api(const ControlApiOptions& o) {
  if (!o.client_ca.empty() && o.tls_cert.empty()) {
    return str_cat("invalid value \"", o.client_ca,
                   "\" for -control-client-ca: needs -control-tls-cert and -control-tls-key");
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return o.tls_cert.empty() ? str_cat("invalid value \"", o.tls_key,
                                        "\" for -control-tls-key: needs -control-tls-cert too")
                              : str_cat("invalid value \"", o.tls_cert,
                                        "\" for -control-tls-cert: needs -control-tls-key too");
  }
  if (!o.enabled()) return std::nullopt;
  auto parsed = parse_listen_address(o.addr);
  if (auto* e = std::get_if<std::string>(&parsed)) {
    return str_cat("invalid value \"", o.addr, "\" for -control-addr: ", *e, " (or off)");
  }
  const bool protected_ = !o.token_file.empty() || !o.client_ca.empty();
  if (!is_loopback_host(std::get<TargetAddress>(parsed).host) && !protected_ && !o.insecure) {
    return str_cat("invalid value \"", o.addr,
                   "\" for -control-addr: listening beyond loopback needs -control-token-file "
                   "or mTLS (-control-tls-cert, -control-tls-key, -control-client-ca), or "
                   "-control-insecure");
  }
  return std::nullopt;
}

}  // namespace jsontcplb
