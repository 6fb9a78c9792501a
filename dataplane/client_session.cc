#include "dataplane/client_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dataplane/core/line_splitter.h"
#include "dataplane/core/log.h"
#include "dataplane/core/units.h"
#include "dataplane/proxy.h"
#include "dataplane/tls_stream.h"

namespace jsontcplb {
namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kTlsHandshakeTimeout(10);

// Points the proxy's link at the session's socket while the session runs, and unregisters
// the session (on the data-plane thread) however the coroutine ends.
class Registration {
 public:
  Registration(Proxy& proxy, std::shared_ptr<ClientLink> link, std::uint64_t id,
               tcp::socket& socket)
      : proxy_(proxy), link_(std::move(link)), id_(id) {
    link_->socket = &socket;
  }
  ~Registration() {
    link_->socket = nullptr;
    proxy_.on_data_plane([proxy = &proxy_, id = id_] { proxy->unregister_client(id); });
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  Proxy& proxy_;
  std::shared_ptr<ClientLink> link_;
  std::uint64_t id_;
};

// Hands a batch to the queue, which lives on the data-plane thread. It counts against the
// queue's room at once, so a session on a reader thread stops reading in time even while its
// batches are still on their way.
void deliver(Proxy& proxy, Batch batch) {
  proxy.admit(batch.size());
  proxy.on_data_plane(
      [proxy = &proxy, batch = std::move(batch)]() mutable { proxy->enqueue(std::move(batch)); });
}

bool is_plain_close(const boost::system::error_code& ec) {
  // A TLS client that closes without close_notify ends the stream just as well.
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

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
asio::awaitable<ReadOutcome> read_and_split(Stream& stream, LineSplitter& splitter) {
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
    boost::system::error_code ec;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      std::tie(ec) = co_await stream.async_wait(tcp::socket::wait_read, kUseAwaitable);
    } else {
      ec = co_await stream.wait_readable();
    }
    if (ec) co_return ReadOutcome{ec, 0, {}};
  }
}

// Stops reading while the queue is full, so TCP slows the client down. The queue and its
// waiters live on the data-plane thread: a session on a reader thread goes there to wait.
asio::awaitable<void> wait_for_room(Proxy& proxy, asio::steady_timer& room_timer) {
  if (!proxy.queue_full_hint() || proxy.clients_cut()) co_return;
  const bool away = proxy.has_reader_threads();
  if (away)
    co_await asio::post(asio::bind_executor(proxy.io().get_executor(), asio::use_awaitable));
  while (proxy.queue().full() && !proxy.clients_cut()) {
    co_await proxy.clients_waiting_for_room().wait(room_timer, std::nullopt);
  }
  if (away) co_await asio::post(asio::use_awaitable);  // back to the session's thread
}

template <typename Stream>
asio::awaitable<void> read_lines(Proxy& proxy, Stream& stream, const std::string& peer) {
  const Options& options = proxy.options();
  LineSplitter splitter(options.read_buffer_bytes, options.max_line_bytes);
  asio::steady_timer room_timer(proxy.io());  // waits on the data-plane thread
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::string end = "closed the connection";
  bool rejected = false;
  for (;;) {
    co_await wait_for_room(proxy, room_timer);
    if (proxy.clients_cut()) {
      end = "was cut off by the drain timeout";
      break;
    }
    auto [ec, n, result] = co_await read_and_split(stream, splitter);
    if (n > 0) {
      bytes += n;
      if (!result.batch.empty()) {
        lines += result.batch.lines();
        deliver(proxy, std::move(result.batch));
      }
      if (result.line_too_long) {
        proxy.on_data_plane([proxy = &proxy] {
          ++proxy->counters().rejected_long_lines;
          proxy->metrics().rejected_line_too_long.Increment();
        });
        LB_LOG(kError, "client ", peer, " sent a line longer than -max-line-bytes ",
               format_bytes(options.max_line_bytes), "; closing it (", lines,
               " lines before it were accepted)");
        rejected = true;
        end = "was closed";
        break;
      }
    }
    if (ec) {
      if (!is_plain_close(ec)) {
        end = proxy.clients_cut() ? "was cut off by the drain timeout"
                                  : str_cat("failed: ", ec.message());
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
      deliver(proxy, std::move(tail));
    }
  }
  LB_LOG(kInfo, "client ", peer, " ", end, " after ", lines, " lines, ", bytes, " bytes");
}

}  // namespace

asio::awaitable<void> run_client_session(std::shared_ptr<Proxy> proxy, tcp::socket socket,
                                         std::string peer, std::shared_ptr<ClientLink> link,
                                         std::uint64_t id) {
  Registration registration(*proxy, std::move(link), id, socket);
  LB_LOG(kInfo, "client ", peer, " connected");
  boost::system::error_code ec;
  socket.non_blocking(true, ec);  // read_some() above relies on it
  if (ec) {
    LB_LOG(kWarn, "client ", peer, ": cannot make the socket non-blocking: ", ec.message());
    co_return;
  }
  co_await read_lines(*proxy, socket, peer);
}

asio::awaitable<void> run_client_session(std::shared_ptr<Proxy> proxy,
                                         std::unique_ptr<TlsStream> stream, std::string peer,
                                         std::shared_ptr<ClientLink> link, std::uint64_t id) {
  using namespace asio::experimental::awaitable_operators;
  Registration registration(*proxy, std::move(link), id, stream->socket());
  asio::steady_timer deadline(co_await asio::this_coro::executor, kTlsHandshakeTimeout);
  auto handshake = co_await (stream->handshake() || deadline.async_wait(kUseAwaitable));
  if (handshake.index() == 1) {
    LB_LOG(kWarn, "client ", peer, ": TLS handshake timed out");
    co_return;
  }
  if (auto ec = std::get<0>(handshake); ec) {
    LB_LOG(kWarn, "client ", peer, ": TLS handshake failed: ", ec.message());
    co_return;
  }
  LB_LOG(kInfo, "client ", peer, " connected (TLS)");
  co_await read_lines(*proxy, *stream, peer);
}

}  // namespace jsontcplb
