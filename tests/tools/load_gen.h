#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lbtest {

struct LoadGenOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint32_t connections = 1;
  std::uint64_t lines_per_connection = 0;
  std::size_t line_size = 200;     ///< Bytes per line with '\n' (at least the format's minimum).
  double rate_lines_per_sec = 0;   ///< Total over all connections; 0 = as fast as possible.
  std::string run_id = "run";      ///< 1-64 characters of [A-Za-z0-9._-].
  std::uint32_t first_stream = 0;  ///< Stream numbers are first_stream + connection index.
  bool final_newline = true;       ///< false: each connection's last line is sent without its '\n'.
  bool tls = false;
  std::string tls_ca;            ///< PEM CA file; empty = the system's trust store.
  bool tls_skip_verify = false;  ///< Accept any server certificate.
  bool stamp_time = false;       ///< ts = CLOCK_REALTIME in ns when the line is generated.
  /// Benchmarks: format the first chunk of lines once and send it again and again (so the
  /// generator is not the bottleneck). Lines repeat, so a verifying sink reports duplicates.
  bool repeat_chunk = false;
  std::chrono::milliseconds connect_timeout{5000};  ///< TCP connect plus TLS handshake.
  /// After the last line: half-close, then wait this long for the peer to close (so its
  /// reader has seen everything) before closing anyway. Not a failure when it expires.
  std::chrono::milliseconds close_timeout{5000};
  /// Bound on the whole run; connections still sending then count as failed. 0 = none.
  std::chrono::milliseconds deadline{std::chrono::minutes(10)};
};

struct LoadGenResult {
  std::uint64_t lines = 0;  ///< Lines written completely (a final line without '\n' counts).
  std::uint64_t bytes = 0;  ///< Bytes accepted by the sockets.
  double seconds = 0;       ///< From start until every connection was closed.
  std::uint32_t failed_connections = 0;
  std::string error;  ///< The first failure, naming the connection; empty when none failed.
  /// TLS: the cipher suite the lowest-numbered connection with a handshake agreed, by OpenSSL's
  /// name. This client offers OpenSSL's default order (TLS_AES_256_GCM_SHA384 first).
  std::string tls_cipher;

  std::string to_json() const;
};

/// Runs every connection concurrently (one Asio thread, the caller's) and returns when all
/// are closed. Writes go out in chunks of whole lines (256 KiB, or ~10 ms worth when paced).
/// Throws std::invalid_argument for a bad run id or zero connections, and std::system_error
/// when the TLS CA file cannot be loaded.
LoadGenResult run_load_gen(const LoadGenOptions& options);

}  // namespace lbtest
