#include "dataplane/core/options.h"

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/flag_setters.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb {
namespace {

using Error = std::optional<std::string>;
using flags::boolean;
using flags::bytes_in_range;
using flags::duration_at_least;
using flags::int_in_range;
using flags::text;

constexpr std::string_view kSummary =
    "json-tcp-lb: splits newline-delimited streams (JSON or any line protocol) at line\n"
    "boundaries and spreads the lines over many connections to many targets, with failover,\n"
    "failback and an acknowledgement ledger so no line is lost, split or merged.";

// Cross-flag rules and files, checked after every flag was parsed.
Error validate(const Options& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return o.tls_cert.empty()
               ? str_cat("invalid value \"", o.tls_key, "\" for -tls-key: needs -tls-cert too")
               : str_cat("invalid value \"", o.tls_cert, "\" for -tls-cert: needs -tls-key too");
  }
  struct FileFlag {
    std::string_view name;
    const std::string& path;
  };
  for (const FileFlag& f :
       {FileFlag{"tls-cert", o.tls_cert}, FileFlag{"tls-key", o.tls_key},
        FileFlag{"tls-target-ca", o.tls_target_ca}, FileFlag{"tls-client-ca", o.tls_client_ca}}) {
    if (!f.path.empty() && !flags::readable_file(f.path)) {
      return str_cat("invalid value \"", f.path, "\" for -", f.name,
                     ": file does not exist or is not readable");
    }
  }
  if (!o.tls_target_ca.empty() && !o.tls_target) {
    return str_cat("invalid value \"", o.tls_target_ca, "\" for -tls-target-ca: needs -tls-target");
  }
  if (!o.tls_client_ca.empty() && !o.tls_listen()) {
    return str_cat("invalid value \"", o.tls_client_ca,
                   "\" for -tls-client-ca: needs -tls-cert and -tls-key");
  }
  if (o.tls_ciphersuites.empty()) {
    return std::string("invalid value \"\" for -tls-ciphersuites: needs at least one suite");
  }
  if (o.tls_ciphersuites != kDefaultTlsCiphersuites && !o.tls_listen() && !o.tls_target) {
    return str_cat("invalid value \"", o.tls_ciphersuites,
                   "\" for -tls-ciphersuites: needs -tls-cert and -tls-key, or -tls-target");
  }
  if (o.targets.size() > o.limits.max_targets) {
    return str_cat("invalid value for -target: ", o.targets.size(),
                   " targets, more than -max-targets ", o.limits.max_targets);
  }
  if (const std::uint64_t total = o.targets.size() * static_cast<std::uint64_t>(o.connections);
      total > o.limits.max_total_connections) {
    return str_cat("invalid value \"", o.connections, "\" for -connections: ", o.targets.size(),
                   " target(s) x ", o.connections, " = ", total,
                   " connections in all, more than -max-total-connections ",
                   o.limits.max_total_connections);
  }
  if (o.addr.empty()) return std::string("invalid value \"\" for -addr: must be a host or IP");
  if (auto error = validate_control_api(o.control)) return error;
  return std::nullopt;
}

}  // namespace

ParsedOptions parse_options(std::span<const char* const> args) {
  ParsedOptions result;
  Options& o = result.options;
  int port = o.port;
  std::string target_text = "127.0.0.1:9999";
  std::string log_level_text = "info";

  FlagParser flags;
  flags.add("addr", "string", "\"0.0.0.0\"", "Address to listen on", text(o.addr));
  flags.add("port", "int", "9000", "Port to listen on (0 picks a free port and logs it)",
            int_in_range(port, 0, 65535));
  flags.add("target", "string", "\"127.0.0.1:9999\"",
            "Address to proxy to. separate multiple with comma ([::1]:9999 for IPv6)",
            [&](std::string_view v) -> Error {
              auto parsed = parse_target_list(v);
              if (auto* e = std::get_if<std::string>(&parsed)) return *e;
              o.targets = std::get<std::vector<TargetAddress>>(std::move(parsed));
              target_text = std::string(v);
              return std::nullopt;
            });
  flags.add("connections", "int", "4", "Number of outbound connections to make to each target",
            int_in_range(o.connections, 1, Options::kMaxConnections));
  flags.add("tls-cert", "string", "", "TLS Certificate PEM file.  Configuring this enables TLS",
            text(o.tls_cert));
  flags.add("tls-key", "string", "", "TLS Certificate Key PEM file", text(o.tls_key));
  flags.add_bool("tls-target", "Connect to the targets using TLS", boolean(o.tls_target));
  flags.add_bool("tls-target-skip-verify", "Accepts any certificate presented by the target",
                 boolean(o.tls_target_skip_verify));
  flags.add("tls-target-ca", "file", "system store",
            "Verify target certificates against this CA bundle (PEM)", text(o.tls_target_ca));
  flags.add("tls-client-ca", "file", "",
            "Require client certificates signed by this CA (PEM); needs -tls-cert",
            text(o.tls_client_ca));
  flags.add("tls-ciphersuites", "list", std::string(kDefaultTlsCiphersuites),
            "TLS 1.3 cipher suites, colon separated, most preferred first (offered to targets in "
            "this order; a client gets the first of these it offers, or ChaCha20 when it prefers "
            "that)",
            text(o.tls_ciphersuites));
  flags.add("failback-interval", "duration", "5m",
            "How often a failed-over connection dials its home target again",
            duration_at_least(o.failback_interval, std::chrono::milliseconds(10)));
  flags.add("read-buffer-bytes", "size", "256KiB",
            "Most bytes read from a client at a time; with many clients connected reads get "
            "smaller (down to 64KiB) so that all of them together stay near 1MiB",
            bytes_in_range(o.read_buffer_bytes, 512, 64ULL << 20));
  flags.add("threads", "int", "2",
            "I/O threads; more than 1 moves reading clients (the kernel copy, TLS decryption, "
            "line splitting) to threads of their own",
            int_in_range(o.threads, 1, 64));
  flags.add("max-line-bytes", "size", "1MiB",
            "Longest line accepted; a client sending a longer one is disconnected",
            bytes_in_range(o.max_line_bytes, 1, 1ULL << 30));
  flags.add("queue-bytes", "size", "16MiB",
            "Lines buffered for the targets; when full, clients are not read (backpressure)",
            bytes_in_range(o.queue_bytes, 1024, 64ULL << 30));
  flags.add("max-unacked-bytes", "size", "2MiB",
            "Bytes a target connection may hold unacknowledged before it waits",
            bytes_in_range(o.max_unacked_bytes, 1024, 1ULL << 30));
  flags.add("max-retained-bytes", "size", "1MiB",
            "Bytes a target connection keeps after the target acknowledged them, while its "
            "receive window says it may not have read them (sent again if it dies first; "
            "0: keep nothing past the acknowledgement)",
            bytes_in_range(o.max_retained_bytes, 0, 1ULL << 30));
  flags.add("assume-unread-bytes", "size", "0",
            "When a target connection fails (reset, crash, timeout), send again at least this "
            "much of what it acknowledged, whatever its receive window said: set it to the "
            "targets' receive buffer size when their buffers autotune (up to "
            "-max-retained-bytes; each failure may then bring up to this many duplicates)",
            bytes_in_range(o.assume_unread_bytes, 0, 1ULL << 30));
  flags.add("drain-timeout", "duration", "30s",
            "On SIGTERM/SIGINT, how long to keep reading clients before closing them",
            duration_at_least(o.drain_timeout, std::chrono::milliseconds(0)));
  flags.add("connect-timeout", "duration", "5s", "Deadline for connecting to a target",
            duration_at_least(o.connect_timeout, std::chrono::milliseconds(1)));
  flags.add("write-timeout", "duration", "30s",
            "Fail a target connection whose written bytes see no acknowledgement for this long",
            duration_at_least(o.write_timeout, std::chrono::milliseconds(100)));
  flags.add("tcp-user-timeout", "duration", "30s",
            "TCP_USER_TIMEOUT on target connections: the kernel gives up on unacknowledged data",
            duration_at_least(o.tcp_user_timeout, std::chrono::milliseconds(100)));
  flags.add("client-idle-timeout", "duration", "0 (off)",
            "Close a client that sends nothing for this long (its last partial line is "
            "delivered with a newline)",
            duration_at_least(o.client_idle_timeout, std::chrono::milliseconds(0)));
  flags.add("max-targets", "int", "512",
            "Most targets the target list may hold (flags or control API); more is refused",
            flags::count_in_range(o.limits.max_targets, 1, 65536));
  flags.add("max-total-connections", "int", "2048",
            "Most connections to targets in all (the sum over targets of their connections); a "
            "change asking for more is refused",
            flags::count_in_range(o.limits.max_total_connections, 1, 1 << 20));
  add_control_api_flags(flags, o.control, "127.0.0.1:9001");
  flags.add("metrics-addr", "host:port", ":9002",
            "Prometheus metrics over HTTP at /metrics (IP:PORT, [IPv6]:PORT or :PORT; port 0 picks "
            "a free "
            "port and logs it); off disables it",
            flags::metrics_address(o.metrics_addr));
  flags.add("log-level", "level", "info", "error, warn, info or debug",
            flags::log_level(o.log_level));
  flags.add_bool("check",
                 "Check the flags and the files they name (certificates, keys, token), print "
                 "what would run and exit 0 without listening; a bad value exits 2",
                 boolean(o.check));

  auto outcome = flags.parse_flags_only(args, "json-tcp-lb");
  switch (outcome.kind) {
    case FlagParser::Outcome::Kind::kHelp:
      result.kind = ParsedOptions::Kind::kHelp;
      result.message = flags.usage("json-tcp-lb", kSummary);
      return result;
    case FlagParser::Outcome::Kind::kError:
      result.kind = ParsedOptions::Kind::kError;
      result.message = outcome.message;
      return result;
    case FlagParser::Outcome::Kind::kOk:
      break;
  }
  o.port = static_cast<std::uint16_t>(port);
  if (auto error = validate(o)) {
    result.kind = ParsedOptions::Kind::kError;
    result.message = *error;
  }
  return result;
}

}  // namespace jsontcplb
