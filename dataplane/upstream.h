#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "dataplane/core/target_address.h"

namespace jsontcplb {

class TlsStream;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// One connection to a target, plain TCP or TLS. Counts the bytes it hands to the socket (the
/// ciphertext for TLS) so the ledger can compare them with the kernel's acknowledged bytes.
class Upstream {
 public:
  struct ConnectSettings {
    std::chrono::milliseconds timeout;
    asio::ssl::context* tls = nullptr;  ///< TLS when set.
    bool verify_host = true;            ///< Check the certificate names the target.
    unsigned user_timeout_ms = 30000;
  };

  /// Resolves, connects and (for TLS) handshakes within `settings.timeout`. On failure the
  /// status (UNAVAILABLE) says what failed.
  static asio::awaitable<absl::StatusOr<std::shared_ptr<Upstream>>> connect(
      const TargetAddress& target, const ConnectSettings& settings);

  Upstream(tcp::socket socket, asio::ssl::context* tls);
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  /// Writes every buffer; the error is set if the connection failed or was cancelled.
  asio::awaitable<boost::system::error_code> write(std::span<const asio::const_buffer> buffers);
  /// Reads whatever the target sends (it should send nothing).
  asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer buffer);
  /// TLS handshake as the client (no-op for plain TCP).
  asio::awaitable<boost::system::error_code> handshake(const std::string& host, bool verify_host);

  /// Sends FIN, after TLS close_notify (whose write is given at most `timeout`). The socket
  /// stays open, so TCP_INFO stays readable and the target's answer can be read.
  asio::awaitable<void> shutdown_send(std::chrono::milliseconds timeout);
  /// Aborts pending operations without closing, so TCP_INFO stays readable.
  void cancel();
  void close();
  /// Closes with a reset (SO_LINGER 0): the kernel drops what it has not sent yet, so lines that
  /// are about to be sent again elsewhere cannot also arrive here.
  void abort();

  /// Bytes handed to the socket since the connection started (ciphertext for TLS).
  std::uint64_t wire_bytes() const;

  /// How far the target got with what was written, from TCP_INFO.
  struct Delivery {
    std::uint64_t acked = 0;  ///< Bytes its TCP acknowledged, same origin as wire_bytes().
    /// How much its receive window shrank from the largest it advertised: 0 when its buffer
    /// is as empty as it was seen (it has read everything, if the window is fresh).
    std::uint64_t shrunk = 0;
    /// The last of the acknowledged bytes it may hold unread, by a window it just sent (its
    /// FIN, or the answer to ours): twice the shrink (see delivery()). More than it holds when
    /// its window was not updated after it read (Linux updates it only once it doubles).
    std::uint64_t unread = 0;
    /// The same for a target that vanished (reset, no answer): a largest window more.
    std::uint64_t unread_if_crashed = 0;
    /// Everything written was acknowledged and the window is fully open again.
    bool all_read(std::uint64_t wire) const { return acked >= wire && shrunk == 0; }
    bool closed = false;  ///< Reset, or both FINs exchanged.
    bool all_acked(std::uint64_t wire) const { return acked >= wire; }
  };
  /// Null when TCP_INFO cannot be read. Also learns the largest window.
  std::optional<Delivery> delivery();

  /// The target's address, and with TLS the protocol and cipher suite agreed.
  std::string describe() const;
  bool failed() const { return failed_; }
  void mark_failed(std::string reason);
  const std::string& failure() const { return failure_; }

 private:
  tcp::socket& socket();
  const tcp::socket& socket() const;

  std::optional<tcp::socket> plain_;
  std::unique_ptr<TlsStream> tls_;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t acked_base_ = 0;  // tcpi_bytes_acked once connected (the SYN may count)
  std::uint32_t max_window_ = 0;  // largest window the target advertised
  std::string peer_;
  bool failed_ = false;
  std::string failure_;
};

}  // namespace jsontcplb
