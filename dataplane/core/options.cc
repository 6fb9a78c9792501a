#include "dataplane/core/options.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>

#include "dataplane/core/flag_parser.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb {
namespace {

using Error = std::optional<std::string>;

constexpr std::string_view kSummary =
    "json-tcp-lb: splits newline-delimited streams (JSON or any line protocol) at line\n"
    "boundaries and spreads the lines over many connections to many targets, with failover,\n"
    "failback and an acknowledgement ledger so no line is lost, split or merged.";

FlagParser::Setter int_in_range(int& out, long long lo, long long hi) {
  return [&out, lo, hi](std::string_view v) -> Error {
    long long n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
      return str_cat("must be a whole number from ", lo, " to ", hi);
    }
    if (n < lo || n > hi) return str_cat("must be from ", lo, " to ", hi);
    out = static_cast<int>(n);
    return std::nullopt;
  };
}

FlagParser::Setter bytes_in_range(std::size_t& out, std::uint64_t lo, std::uint64_t hi) {
  return [&out, lo, hi](std::string_view v) -> Error {
    auto n = parse_bytes(v);
    if (!n) return "must be a size in bytes such as 65536, 64KiB or 16MiB";
    if (*n < lo || *n > hi) {
      return str_cat("must be from ", format_bytes(lo), " to ", format_bytes(hi));
    }
    out = static_cast<std::size_t>(*n);
    return std::nullopt;
  };
}

FlagParser::Setter duration_at_least(std::chrono::milliseconds& out, std::chrono::milliseconds lo) {
  return [&out, lo](std::string_view v) -> Error {
    auto d = parse_duration(v);
    if (!d) return "must be a duration such as 500ms, 30s or 5m";
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    if (ms < lo) return str_cat("must be at least ", format_duration(lo));
    out = ms;
    return std::nullopt;
  };
}

FlagParser::Setter text(std::string& out) {
  return [&out](std::string_view v) -> Error {
    out = std::string(v);
    return std::nullopt;
  };
}

FlagParser::Setter boolean(bool& out) {
  return [&out](std::string_view v) -> Error {
    out = v == "true";
    return std::nullopt;
  };
}

// A regular file we can open: a directory opens fine on Linux but fails only when read.
bool readable(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && std::ifstream(path).good();
}

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
    if (!f.path.empty() && !readable(f.path)) {
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
  if (o.addr.empty()) return std::string("invalid value \"\" for -addr: must be a host or IP");
  if (!o.control_client_ca.empty() && o.control_tls_cert.empty()) {
    return str_cat("invalid value \"", o.control_client_ca,
                   "\" for -control-client-ca: needs -control-tls-cert and -control-tls-key");
  }
  if (o.control_addr != "off") {
    auto parsed = parse_listen_address(o.control_addr);
    if (auto* e = std::get_if<std::string>(&parsed)) {
      return str_cat("invalid value \"", o.control_addr, "\" for -control-addr: ", *e, " (or off)");
    }
    const bool protected_ = !o.control_token_file.empty() || !o.control_client_ca.empty();
    if (!is_loopback_host(std::get<TargetAddress>(parsed).host) && !protected_ &&
        !o.control_insecure) {
      return str_cat("invalid value \"", o.control_addr,
                     "\" for -control-addr: listening beyond loopback needs -control-token-file "
                     "or mTLS (-control-tls-cert, -control-tls-key, -control-client-ca), or "
                     "-control-insecure");
    }
  }
  if (o.metrics_addr != "off") {
    auto parsed = parse_metrics_address(o.metrics_addr);
    if (auto* e = std::get_if<std::string>(&parsed)) {
      return str_cat("invalid value \"", o.metrics_addr, "\" for -metrics-addr: ", *e, " (or off)");
    }
  }
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
  flags.add("failback-interval", "duration", "5m",
            "How often a failed-over connection dials its home target again",
            duration_at_least(o.failback_interval, std::chrono::milliseconds(10)));
  flags.add("read-buffer-bytes", "size", "64KiB", "Bytes read from a client at a time",
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
  flags.add("control-addr", "host:port", "127.0.0.1:9001",
            "gRPC control API address (lbctl); off disables it", text(o.control_addr));
  flags.add("control-token-file", "file", "",
            "Require this bearer token (file contents) on control API calls",
            text(o.control_token_file));
  flags.add("control-tls-cert", "file", "", "Serve the control API with TLS (PEM certificate)",
            text(o.control_tls_cert));
  flags.add("control-tls-key", "file", "", "Key for -control-tls-cert (PEM)",
            text(o.control_tls_key));
  flags.add("control-client-ca", "file", "",
            "Require control API client certificates signed by this CA (mTLS)",
            text(o.control_client_ca));
  flags.add_bool("control-insecure", "Allow a non-loopback -control-addr without a token or mTLS",
                 boolean(o.control_insecure));
  flags.add("metrics-addr", "host:port", ":9002",
            "Prometheus metrics over HTTP at /metrics (IPv4:PORT or :PORT; port 0 picks a free "
            "port and logs it); off disables it",
            text(o.metrics_addr));
  flags.add("log-level", "level", "info", "error, warn, info or debug",
            [&](std::string_view v) -> Error {
              if (!parse_log_level(v, o.log_level)) return "must be error, warn, info or debug";
              return std::nullopt;
            });

  auto outcome = flags.parse(args);
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
  if (!outcome.positional.empty()) {
    result.kind = ParsedOptions::Kind::kError;
    result.message = str_cat("unexpected argument \"", outcome.positional.front(),
                             "\": json-tcp-lb takes only flags (see -h)");
    return result;
  }
  o.port = static_cast<std::uint16_t>(port);
  if (auto error = validate(o)) {
    result.kind = ParsedOptions::Kind::kError;
    result.message = *error;
  }
  return result;
}

}  // namespace jsontcplb
