#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/control_api_options.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/log.h"
#include "dataplane/core/target_address.h"

namespace jsontcplb {

/// -tls-ciphersuites' default: AES-128-GCM first, as Go's crypto/tls prefers it on CPUs with
/// AES instructions (about 5% less CPU per GB than AES-256-GCM here); ChaCha20 last, and first
/// for a client that lists it first (one without AES instructions).
inline constexpr std::string_view kDefaultTlsCiphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// Everything json-tcp-lb is configured with. Defaults are the Go original's where it had the
/// flag, and the documented ones otherwise.
struct Options {
  // Flags of the Go original.
  std::string addr = "0.0.0.0";
  std::uint16_t port = 9000;
  std::vector<TargetAddress> targets = {{"127.0.0.1", 9999}};
  int connections = 4;
  std::string tls_cert;
  std::string tls_key;
  bool tls_target = false;
  bool tls_target_skip_verify = false;

  // Our additions.
  std::string tls_target_ca;
  std::string tls_client_ca;
  /// TLS 1.3 cipher suites in order of preference, on both sides (OpenSSL's names).
  std::string tls_ciphersuites{kDefaultTlsCiphersuites};
  std::chrono::milliseconds failback_interval = std::chrono::minutes(5);
  std::size_t read_buffer_bytes = 256 * 1024;
  int threads = 2;
  std::size_t max_line_bytes = 1024 * 1024;
  std::size_t queue_bytes = 16 * 1024 * 1024;
  std::size_t max_unacked_bytes = 2 * 1024 * 1024;
  std::size_t max_retained_bytes = 1024 * 1024;
  /// The least a failed target connection is assumed to have left unread (sent again).
  std::size_t assume_unread_bytes = 0;
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds tcp_user_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds client_idle_timeout{0};  ///< 0: clients may stay silent forever
  /// -max-targets, -max-total-connections: what the command line and any later change may ask.
  ConfigLimits limits;
  LogLevel log_level = LogLevel::kInfo;
  /// -check: check the flags and the files they name, say what would run, exit.
  bool check = false;

  // Control API (-control-*).
  ControlApiOptions control{.addr = "127.0.0.1:9001"};

  // Prometheus metrics over HTTP.
  std::string metrics_addr = ":9002";  ///< "off" disables it; ":PORT" is every IPv4 interface.

  static constexpr int kMaxConnections = kMaxConnectionsPerTarget;

  bool tls_listen() const { return !tls_cert.empty(); }
};

/// What `parse_options` decided.
struct ParsedOptions {
  enum class Kind { kRun, kHelp, kError };
  Kind kind = Kind::kRun;
  Options options;
  /// kHelp: the usage text. kError: one line naming the flag, the value and the rule.
  std::string message;
};

/// Parses and validates json-tcp-lb's command line (`args` excludes the program name). Checks
/// that files named by flags are readable, so a bad value is reported before anything listens.
ParsedOptions parse_options(std::span<const char* const> args);

}  // namespace jsontcplb
