#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/client_registry.h"

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class LineQueue;
class LogLimiter;
class Stats;
class TlsStream;

/// What a client session sees of the data plane.
struct SessionEnv {
  std::shared_ptr<LineQueue> queue;
  std::shared_ptr<Stats> stats;
  std::shared_ptr<ClientRegistry> registry;
  /// -read-buffer-bytes: the largest read (see read_size()).
  std::size_t read_buffer_bytes = 0;
  std::size_t max_line_bytes = 0;
  /// -client-idle-timeout: a client that sends nothing for this long is closed; 0: never.
  std::chrono::milliseconds idle_timeout{0};
  /// Connection events (connected, closed, refused) go through it at info level.
  std::shared_ptr<LogLimiter> events;
  /// Sessions running, on any thread: how reads are sized.
  std::shared_ptr<std::atomic<std::size_t>> sessions =
      std::make_shared<std::atomic<std::size_t>>(0);
};

/// Reads one client until it closes: splits its stream into whole-line batches, queues them,
/// and stops reading while the queue is full. A trailing fragment is delivered with '\n'.
/// Runs on `link->executor` (the data-plane thread, or a reader thread with -threads > 1);
/// `id` is its registration, which it removes when it ends.
asio::awaitable<void> run_client_session(std::shared_ptr<const SessionEnv> env, tcp::socket socket,
                                         std::string peer,
                                         std::shared_ptr<ClientRegistry::Link> link,
                                         std::uint64_t id);
/// The same over TLS, after a server handshake.
asio::awaitable<void> run_client_session(std::shared_ptr<const SessionEnv> env,
                                         std::unique_ptr<TlsStream> stream, std::string peer,
                                         std::shared_ptr<ClientRegistry::Link> link,
                                         std::uint64_t id);

}  // namespace jsontcplb
