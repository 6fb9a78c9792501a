#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Options;
class ReaderThreads;
struct SessionEnv;

/// Accepts clients on -addr/-port (with TLS when -tls-cert is set) and starts a session for
/// each, on a reader thread with -threads > 1. Sessions register in the env's ClientRegistry.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  /// Builds the client TLS context and binds. INVALID_ARGUMENT for a flag value that cannot be
  /// used (a bad certificate, an unresolvable -addr), UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::shared_ptr<Listener>> create(asio::io_context& io,
                                                          const Options& options,
                                                          std::shared_ptr<const SessionEnv> env);
  Listener(asio::io_context& io, std::shared_ptr<const SessionEnv> env, std::size_t readers);
  ~Listener();

  void start();
  /// Stops accepting; sessions already running go on.
  void stop();
  tcp::endpoint endpoint() const;
  bool tls() const { return tls_ != nullptr; }

 private:
  asio::awaitable<void> accept_loop();

  asio::io_context& io_;
  std::shared_ptr<const SessionEnv> env_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::unique_ptr<ReaderThreads> readers_;  // -threads > 1
  tcp::acceptor acceptor_;
};

}  // namespace jsontcplb
