#include "controlplane/core/options.h"

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/flag_setters.h"
#include "dataplane/core/str_cat.h"

namespace jsontcplb::controlplane {
namespace {

using Error = std::optional<std::string>;

constexpr std::string_view kSummary =
    "lb-controlplane: holds one desired config for a fleet of json-tcp-lb data planes and makes\n"
    "every one of them run it: watches each data plane's status stream and pushes the config\n"
    "whenever what it runs differs, from a config file and DNS, with runtime overrides.";

Error validate(const Options& o) {
  if (o.config_file.empty() == o.check_config_file.empty()) {
    return o.config_file.empty()
               ? std::string("-config FILE is required (or -check-config FILE)")
               : str_cat("invalid value \"", o.check_config_file,
                         "\" for -check-config: -check-config and -config go alone");
  }
  struct FileFlag {
    std::string_view name;
    const std::string& path;
  };
  for (const FileFlag& f :
       {FileFlag{"config", o.config_file}, FileFlag{"check-config", o.check_config_file},
        FileFlag{"dataplane-token-file", o.dataplane_token_file},
        FileFlag{"dataplane-tls-ca", o.dataplane_tls_ca},
        FileFlag{"dataplane-tls-cert", o.dataplane_tls_cert},
        FileFlag{"dataplane-tls-key", o.dataplane_tls_key}}) {
    if (!f.path.empty() && !flags::readable_file(f.path)) {
      return str_cat("invalid value \"", f.path, "\" for -", f.name,
                     ": file does not exist or is not readable");
    }
  }
  if (o.dataplane_tls_cert.empty() != o.dataplane_tls_key.empty()) {
    return o.dataplane_tls_cert.empty()
               ? str_cat("invalid value \"", o.dataplane_tls_key,
                         "\" for -dataplane-tls-key: needs -dataplane-tls-cert too")
               : str_cat("invalid value \"", o.dataplane_tls_cert,
                         "\" for -dataplane-tls-cert: needs -dataplane-tls-key too");
  }
  if (auto error = validate_control_api(o.control)) return error;
  return std::nullopt;
}

}  // namespace

ParsedOptions parse_options(std::span<const char* const> args) {
  ParsedOptions result;
  Options& o = result.options;
  FlagParser flags;
  flags.add("config", "file", "", "The desired state for the fleet (protobuf JSON, see README)",
            flags::text(o.config_file));
  flags.add("check-config", "file", "",
            "Validate a config file, resolve its DNS names once, print what it resolves to, exit",
            flags::text(o.check_config_file));
  flags.add("state-file", "file", "",
            "Keep runtime overrides (fleet API changes) here, so they survive a restart",
            flags::text(o.state_file));
  add_control_api_flags(flags, o.control, "127.0.0.1:9011");
  flags.add("metrics-addr", "host:port", ":9012",
            "Prometheus metrics over HTTP at /metrics (IP:PORT, [IPv6]:PORT or :PORT; port 0 picks "
            "a free "
            "port and logs it); off disables it",
            flags::metrics_address(o.metrics_addr));
  flags.add("dataplane-token-file", "file", "",
            "Bearer token for the data planes' control APIs (file contents)",
            flags::text(o.dataplane_token_file));
  flags.add("dataplane-tls-ca", "file", "",
            "Call the data planes with TLS, verifying them against this CA (PEM)",
            flags::text(o.dataplane_tls_ca));
  flags.add("dataplane-tls-cert", "file", "",
            "Client certificate for the data planes (mTLS, PEM); needs -dataplane-tls-key",
            flags::text(o.dataplane_tls_cert));
  flags.add("dataplane-tls-key", "file", "", "Key for -dataplane-tls-cert (PEM)",
            flags::text(o.dataplane_tls_key));
  flags.add("push-timeout", "duration", "5s", "Deadline of one push to a data plane",
            flags::duration_at_least(o.push_timeout, std::chrono::milliseconds(100)));
  flags.add("max-concurrent-pushes", "int", "32",
            "Pushes in flight at once over the whole fleet (the others wait their turn)",
            flags::int_in_range(o.max_concurrent_pushes, 1, 4096));
  flags.add("log-level", "level", "info", "error, warn, info or debug",
            flags::log_level(o.log_level));

  auto outcome = flags.parse_flags_only(args, "lb-controlplane");
  switch (outcome.kind) {
    case FlagParser::Outcome::Kind::kHelp:
      result.kind = ParsedOptions::Kind::kHelp;
      result.message = flags.usage("lb-controlplane", kSummary);
      return result;
    case FlagParser::Outcome::Kind::kError:
      result.kind = ParsedOptions::Kind::kError;
      result.message = outcome.message;
      return result;
    case FlagParser::Outcome::Kind::kOk:
      break;
  }
  if (auto error = validate(o)) {
    result.kind = ParsedOptions::Kind::kError;
    result.message = *error;
    return result;
  }
  if (!o.check_config_file.empty()) result.kind = ParsedOptions::Kind::kCheck;
  return result;
}

}  // namespace jsontcplb::controlplane
