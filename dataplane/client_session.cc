#include "dataplane/client_session.h"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "dataplane/core/line_splitter.h"
#include "dataplane/core/log.h"
#include "dataplane/core/log_limiter.h"
#include "dataplane/core/read_size.h"
#include "dataplane/core/units.h"
#include "dataplane/coro.h"
#include "dataplane/line_queue.h"
#include "dataplane/stats.h"
#include "dataplane/tls_stream.h"

namespace jsontcplb {
namespace {

constexpr std::chrono::seconds kTlsHandshakeTimeout(10);

// Runs `f` on the data-plane thread: at once when called there, posted otherwise (in order).
template <typename F>
void on_data_plane(const SessionEnv& env, F&& f) {
  auto executor = env.queue->executor();
  if (executor.running_in_this_thread()) {
    f();
  } else {
    asio::post(executor, std::forward<F>(f));
  }
}

// A client's connection event: at info level and above through the limiter (a loop of
// connects must not flood the log), every one at debug level.
template <typename... Args>
void log_event(const SessionEnv& env, LogLevel level, const Args&... args) {
  if (!log_enabled(level)) return;
  if (!log_enabled(LogLevel::kDebug) && env.events) {
    std::optional<std::string> summary;
    const bool allowed = env.events->allow(LogLimiter::Clock::now(), summary);
    if (summary) log_line(LogLevel::kInfo, *summary);
    if (!allowed) return;
  }
  log_line(level, str_cat(args...));
}

// Waits until `stream` is readable.
template <typename Stream>
asio::awaitable<boost::system::error_code> wait_readable(Stream& stream) {
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    auto [ec] = co_await stream.async_wait(tcp::socket::wait_read, kUseAwaitable);
    co_return ec;
  } else {
    co_return co_await stream.wait_readable();
  }
}

// The same, at most `idle_timeout` (-client-idle-timeout, when set): timed_out then.
template <typename Stream>
asio::awaitable<boost::system::error_code> wait_readable_for(
    Stream& stream, std::chrono::milliseconds idle_timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, idle_timeout);
  auto done = co_await (wait_readable(stream) || timer.async_wait(kUseAwaitable));
  if (done.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(done);
}

// Points the registry's link at the session's socket while the session runs, and unregisters
// the session (on the data-plane thread) however the coroutine ends.
class Registration {
 public:
  Registration(std::shared_ptr<const SessionEnv> env, std::shared_ptr<ClientRegistry::Link> link,
               std::uint64_t id, tcp::socket& socket)
      : env_(std::move(env)), link_(std::move(link)), id_(id) {
    env_->sessions->fetch_add(1, std::memory_order_relaxed);
    link_->socket = &socket;
  }
  ~Registration() {
    env_->sessions->fetch_sub(1, std::memory_order_relaxed);
    link_->socket = nullptr;
    on_data_plane(*env_, [registry = env_->registry, id = id_] { registry->remove(id); });
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::shared_ptr<const SessionEnv> env_;
  std::shared_ptr<ClientRegistry::Link> link_;
  std::uint64_t id_;
};

// Hands a batch to the queue, which lives on the data-plane thread. It counts against the
// queue's room at once, so a session on a reader thread stops reading in time even while its
// batches are still on their way. The handler holds the environment by plain pointer: a
// shared_ptr copy per batch would bounce its count between two threads, and the listener that
// owns the environment outlives every handler the data-plane thread runs.
void deliver(const SessionEnv& env, Batch batch) {
  env.queue->admit(batch.size());
  on_data_plane(env, [env = &env, batch = std::move(batch)]() mutable {
    env->stats->received(batch.lines(), batch.size());
    env->queue->push(std::move(batch));
  });
}

// The room a pop woke this session for. It is used when the session queues a batch (the
// batch's pop wakes the next client); when the session finds nothing to read or ends instead,
// it hands the room on, or the clients waiting behind it would wait for a pop that never comes.
class WokenForRoom {
 public:
  explicit WokenForRoom(const SessionEnv& env) : env_(env) {}
  ~WokenForRoom() { hand_on(); }
  WokenForRoom(const WokenForRoom&) = delete;
  WokenForRoom& operator=(const WokenForRoom&) = delete;

  /// After wait_for_room(): true if it waited. A session that read only part of a line holds
  /// on to the room it was woken for until it queues a batch or finds nothing more to read.
  void woken(bool woken) { held_ = held_ || woken; }
  void used() { held_ = false; }
  void hand_on() {
    if (!held_) return;
    held_ = false;
    on_data_plane(env_, [queue = env_.queue] { queue->hand_on_room(); });
  }

 private:
  const SessionEnv& env_;
  bool held_ = false;
};

// What one read brought: the error (if any), the bytes read, and the lines they completed.
struct ReadOutcome {
  boost::system::error_code ec;
  std::size_t bytes = 0;
  LineSplitter::Result split;
};

// One read from a client, split into lines.
//
// A client with nothing to send gets no read buffer while it waits (10,000 idle clients would
// otherwise pin 10,000 read buffers): the read is tried without waiting, and only if it finds
// nothing is the buffer released and readiness awaited. For plain TCP that is the same system
// calls as async_read_some (a read that finds nothing, then epoll) plus one epoll_ctl each time
// the client goes quiet.
template <typename Stream>
asio::awaitable<ReadOutcome> read_and_split(Stream& stream, LineSplitter& splitter,
                                            std::chrono::milliseconds idle_timeout,
                                            WokenForRoom& room) {
  for (;;) {
    ReadOutcome out;
    std::span<char> space = splitter.prepare();
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      out.bytes = stream.read_some(asio::buffer(space.data(), space.size()), out.ec);
    } else {
      std::tie(out.ec, out.bytes) =
          co_await stream.read_some(asio::buffer(space.data(), space.size()), false);
    }
    if (out.ec != asio::error::would_block) {
      if (out.bytes > 0) out.split = splitter.commit(out.bytes);
      // Let the workers and other clients run between reads, as an async read would.
      co_await asio::post(asio::use_awaitable);
      co_return out;
    }
    splitter.release();
    room.hand_on();  // nothing to queue until the client sends more
    // The common case waits inline: no timer, no extra coroutine frame (this runs each time a
    // client's socket is drained).
    boost::system::error_code ec;
    if (idle_timeout.count() > 0) {
      ec = co_await wait_readable_for(stream, idle_timeout);
    } else if constexpr (std::is_same_v<Stream, tcp::socket>) {
      std::tie(ec) = co_await stream.async_wait(tcp::socket::wait_read, kUseAwaitable);
    } else {
      ec = co_await stream.wait_readable();
    }
    if (ec) co_return ReadOutcome{ec, 0, {}};
  }
}

template <typename Stream>
asio::awaitable<void> read_lines(const std::shared_ptr<const SessionEnv>& env, Stream& stream,
                                 const std::string& peer) {
  const ClientRegistry& registry = *env->registry;
  LineSplitter splitter(env->read_buffer_bytes, env->max_line_bytes);
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::string end = "closed the connection";
  bool rejected = false;
  WokenForRoom room(*env);
  for (;;) {
    // Stops reading while the queue is full, so TCP slows the client down.
    room.woken(co_await env->queue->wait_for_room(registry.cut_flag()));
    if (registry.cut()) {
      end = "was cut off by the drain timeout";
      break;
    }
    splitter.set_read_bytes(
        read_size(env->read_buffer_bytes, env->sessions->load(std::memory_order_relaxed)));
    auto [ec, n, result] = co_await read_and_split(stream, splitter, env->idle_timeout, room);
    if (n > 0) {
      bytes += n;
      if (!result.batch.empty()) {
        lines += result.batch.lines();
        deliver(*env, std::move(result.batch));
        room.used();
      }
      if (result.line_too_long) {
        on_data_plane(*env, [stats = env->stats] { stats->line_too_long(); });
        log_event(*env, LogLevel::kError, "client ", peer,
                  " sent a line longer than -max-line-bytes ", format_bytes(env->max_line_bytes),
                  "; closing it (", lines, " lines before it were accepted)");
        rejected = true;
        end = "was closed";
        break;
      }
    }
    if (ec == asio::error::timed_out) {
      on_data_plane(*env, [stats = env->stats] { stats->client_idle_closed(); });
      end = str_cat("sent nothing for -client-idle-timeout ", format_duration(env->idle_timeout),
                    "; closed it");
      break;
    }
    if (ec) {
      if (!is_end_of_stream(ec)) {
        end =
            registry.cut() ? "was cut off by the drain timeout" : str_cat("failed: ", ec.message());
      }
      break;
    }
  }
  if (!rejected) {
    Batch tail = splitter.finish();
    if (!tail.empty()) {
      // Without the added '\n' this fragment would merge with the next line another client
      // sends over the same target connection.
      LB_LOG(kDebug, "client ", peer, " ended without a final newline; one was appended");
      ++lines;
      deliver(*env, std::move(tail));
    }
  }
  log_event(*env, LogLevel::kInfo, "client ", peer, " ", end, " after ", lines, " lines, ", bytes,
            " bytes");
}

}  // namespace

asio::awaitable<void> run_client_session(std::shared_ptr<const SessionEnv> env, tcp::socket socket,
                                         std::string peer,
                                         std::shared_ptr<ClientRegistry::Link> link,
                                         std::uint64_t id) {
  Registration registration(env, std::move(link), id, socket);
  log_event(*env, LogLevel::kInfo, "client ", peer, " connected");
  boost::system::error_code ec;
  socket.non_blocking(true, ec);  // read_some() above relies on it
  if (ec) {
    log_event(*env, LogLevel::kWarn, "client ", peer,
              ": cannot make the socket non-blocking: ", ec.message());
    co_return;
  }
  co_await read_lines(env, socket, peer);
}

asio::awaitable<void> run_client_session(std::shared_ptr<const SessionEnv> env,
                                         std::unique_ptr<TlsStream> stream, std::string peer,
                                         std::shared_ptr<ClientRegistry::Link> link,
                                         std::uint64_t id) {
  using namespace asio::experimental::awaitable_operators;
  Registration registration(env, std::move(link), id, stream->socket());
  asio::steady_timer deadline(co_await asio::this_coro::executor, kTlsHandshakeTimeout);
  auto handshake = co_await (stream->handshake() || deadline.async_wait(kUseAwaitable));
  if (handshake.index() == 1) {
    log_event(*env, LogLevel::kWarn, "client ", peer, ": TLS handshake timed out");
    co_return;
  }
  if (auto ec = std::get<0>(handshake); ec) {
    log_event(*env, LogLevel::kWarn, "client ", peer, ": TLS handshake failed: ", ec.message());
    co_return;
  }
  log_event(*env, LogLevel::kInfo, "client ", peer, " connected (TLS)");
  co_await read_lines(env, *stream, peer);
}

}  // namespace jsontcplb
