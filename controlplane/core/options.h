#pragma once

#include <chrono>
#include <span>
#include <string>

#include "dataplane/core/control_api_options.h"
#include "dataplane/core/log.h"

namespace jsontcplb::controlplane {

/// Everything lb-controlplane is configured with on its command line.
struct Options {
  std::string config_file;        ///< -config: the desired state for the fleet.
  std::string check_config_file;  ///< -check-config: validate, resolve, print, exit.
  std::string state_file;         ///< -state-file: runtime overrides survive a restart.
  ControlApiOptions control{.addr = "127.0.0.1:9011"};
  std::string metrics_addr = ":9012";  ///< "off" disables it.
  // How to call the data planes' control APIs.
  std::string dataplane_token_file;
  std::string dataplane_tls_ca;
  std::string dataplane_tls_cert;
  std::string dataplane_tls_key;
  std::chrono::milliseconds push_timeout = std::chrono::seconds(5);
  int max_concurrent_pushes = 32;
  LogLevel log_level = LogLevel::kInfo;
};

struct ParsedOptions {
  enum class Kind { kRun, kCheck, kHelp, kError };
  Kind kind = Kind::kRun;
  Options options;
  /// kHelp: the usage text. kError: one line naming the flag, the value and the rule.
  std::string message;
};

/// Parses lb-controlplane's command line (`args` excludes the program name), with the same flag
/// grammar as json-tcp-lb. Files named by flags must be readable.
ParsedOptions parse_options(std::span<const char* const> args);

}  // namespace jsontcplb::controlplane
