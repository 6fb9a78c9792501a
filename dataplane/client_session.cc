#include "dataplane/client_session.h"

#include <boost/asio/as_tuple.hpp>
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

// Unregisters the session however the coroutine ends.
class Registration {
 public:
  Registration(Proxy& proxy, tcp::socket& socket)
      : proxy_(proxy), id_(proxy.register_client(socket)) {}
  ~Registration() { proxy_.unregister_client(id_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  Proxy& proxy_;
  std::uint64_t id_;
};

bool is_plain_close(const boost::system::error_code& ec) {
  // A TLS client that closes without close_notify ends the stream just as well.
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

using ReadResult = std::tuple<boost::system::error_code, std::size_t>;

// One read from a client into the splitter. A client with nothing to send gets no read buffer
// while it waits (10,000 idle clients would otherwise pin 10,000 read buffers): the read is
// tried without waiting, and only if it finds nothing is the buffer released and readiness
// awaited. For plain TCP that is the same system calls as async_read_some (a read that finds
// nothing, then epoll) plus one epoll_ctl each time the client goes quiet.
template <typename Stream>
asio::awaitable<ReadResult> read_some(Stream& stream, LineSplitter& splitter) {
  for (;;) {
    std::span<char> space = splitter.prepare();
    ReadResult result;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      boost::system::error_code ec;  // the socket is non-blocking
      const std::size_t n = stream.read_some(asio::buffer(space.data(), space.size()), ec);
      result = ReadResult{ec, n};
    } else {
      result = co_await stream.read_some(asio::buffer(space.data(), space.size()), false);
    }
    if (std::get<0>(result) != asio::error::would_block) {
      // Let the workers and other clients run between reads, as an async read would.
      co_await asio::post(stream.get_executor(), asio::use_awaitable);
      co_return result;
    }
    splitter.release();
    boost::system::error_code ec;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      std::tie(ec) = co_await stream.async_wait(tcp::socket::wait_read, kUseAwaitable);
    } else {
      ec = co_await stream.wait_readable();
    }
    if (ec) co_return ReadResult{ec, 0};
  }
}

template <typename Stream>
asio::awaitable<void> read_lines(Proxy& proxy, Stream& stream, const std::string& peer) {
  const Options& options = proxy.options();
  LineSplitter splitter(options.read_buffer_bytes, options.max_line_bytes);
  asio::steady_timer room_timer(co_await asio::this_coro::executor);
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::string end = "closed the connection";
  bool rejected = false;
  for (;;) {
    // Backpressure: a full queue means we stop reading and TCP slows the client down.
    while (proxy.queue().full() && !proxy.clients_cut()) {
      co_await proxy.clients_waiting_for_room().wait(room_timer, std::nullopt);
    }
    if (proxy.clients_cut()) {
      end = "was cut off by the drain timeout";
      break;
    }
    auto [ec, n] = co_await read_some(stream, splitter);
    if (n > 0) {
      bytes += n;
      LineSplitter::Result result = splitter.commit(n);
      if (!result.batch.empty()) {
        lines += result.batch.lines();
        proxy.enqueue(std::move(result.batch));
      }
      if (result.line_too_long) {
        ++proxy.counters().rejected_long_lines;
        proxy.metrics().rejected_line_too_long.Increment();
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
      proxy.enqueue(std::move(tail));
    }
  }
  LB_LOG(kInfo, "client ", peer, " ", end, " after ", lines, " lines, ", bytes, " bytes");
}

}  // namespace

asio::awaitable<void> run_client_session(std::shared_ptr<Proxy> proxy, tcp::socket socket,
                                         std::string peer) {
  Registration registration(*proxy, socket);
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
                                         std::unique_ptr<TlsStream> stream, std::string peer) {
  using namespace asio::experimental::awaitable_operators;
  Registration registration(*proxy, stream->socket());
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
