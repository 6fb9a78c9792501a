#include "tests/tools/load_gen.h"

#include <time.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <optional>
#include <stdexcept>
#include <vector>

#include "dataplane/core/str_cat.h"
#include "tests/tools/json_quote.h"
#include "tests/tools/line_format.h"

namespace lbtest {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

constexpr std::size_t kChunkBytes = 256 * 1024;
// Paced connections write about this much time's worth of lines at once.
constexpr double kPacedChunkSeconds = 0.01;
// Token bucket size: how far behind schedule a paced connection may catch up at full speed.
constexpr Clock::duration kMaxBurst = std::chrono::milliseconds(100);

struct ConnectionResult {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::string error;
  std::string tls_cipher;
};

std::string describe(std::string_view what, const error_code& ec) {
  return jsontcplb::str_cat(what, ": ", ec.message());
}

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Clock::time_point after(Clock::time_point start, double seconds) {
  return start +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

asio::awaitable<void> sleep_until(Clock::time_point when) {
  asio::steady_timer timer(co_await asio::this_coro::executor, when);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// `op` or asio::error::timed_out, whichever comes first; the loser is cancelled.
asio::awaitable<error_code> bounded(asio::awaitable<error_code> op,
                                    std::chrono::milliseconds limit) {
  auto result = co_await (std::move(op) || sleep_until(Clock::now() + limit));
  if (result.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(result);
}

asio::awaitable<error_code> connect(tcp::socket& socket, const std::string& host,
                                    std::uint16_t port) {
  tcp::resolver resolver(socket.get_executor());
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(
      host, std::to_string(port), asio::as_tuple(asio::use_awaitable));
  if (resolve_error) co_return resolve_error;
  auto [ec, endpoint] =
      co_await asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

template <typename Stream>
asio::awaitable<error_code> handshake(Stream& stream) {
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                              asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

// Plain TCP: we sent FIN; the peer's FIN (EOF) means its reader got everything.
asio::awaitable<error_code> wait_for_eof(tcp::socket& socket) {
  char discard[4096];
  while (true) {
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(discard), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec == asio::error::eof ? error_code() : ec;
  }
}

// TLS: sends close_notify and waits for the peer's, or for its TCP close.
asio::awaitable<error_code> tls_shutdown(asio::ssl::stream<tcp::socket&>& stream) {
  auto [ec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

class Generator {
 public:
  Generator(const LoadGenOptions& options, std::uint32_t index)
      : options_(options), stream_(options.first_stream + index) {
    const double rate = options.rate_lines_per_sec / options.connections;
    const std::uint64_t max_lines =
        std::max<std::uint64_t>(1, kChunkBytes / std::max<std::size_t>(1, options.line_size));
    lines_per_chunk_ =
        rate > 0 ? std::clamp<std::uint64_t>(static_cast<std::uint64_t>(rate * kPacedChunkSeconds),
                                             1, max_lines)
                 : max_lines;
    rate_ = rate;
    chunk_.reserve(kChunkBytes + options.line_size + 256);
  }

  bool done() const { return next_seq_ == options_.lines_per_connection; }
  /// When the next chunk may be written (pacing), or nothing.
  std::optional<Clock::time_point> due(Clock::time_point start) const {
    if (rate_ <= 0) return std::nullopt;
    return after(start, static_cast<double>(next_seq_) / rate_);
  }
  /// The next chunk of whole lines and the number of lines in it.
  std::string_view next(std::uint64_t& lines) {
    lines = std::min(lines_per_chunk_, options_.lines_per_connection - next_seq_);
    if (repeatable_ && options_.final_newline) {
      next_seq_ += lines;
      return std::string_view(chunk_).substr(0, lines * options_.line_size);
    }
    chunk_.clear();
    for (std::uint64_t i = 0; i < lines; ++i) {
      append_line(chunk_, options_.run_id, stream_, next_seq_++, options_.line_size,
                  options_.stamp_time ? realtime_ns() : 0);
    }
    // Every line of exactly line_size bytes: a prefix of this chunk is whole lines too.
    repeatable_ = options_.repeat_chunk && !options_.stamp_time &&
                  chunk_.size() == lines * options_.line_size;
    if (done() && !options_.final_newline) chunk_.pop_back();
    return chunk_;
  }

 private:
  const LoadGenOptions& options_;
  const std::uint32_t stream_;
  std::uint64_t lines_per_chunk_ = 1;
  double rate_ = 0;
  std::uint64_t next_seq_ = 0;
  std::string chunk_;
  bool repeatable_ = false;  // chunk_ holds lines_per_chunk_ lines to send again
};

template <typename Stream>
asio::awaitable<void> send_lines(Stream& stream, Generator& generator, ConnectionResult& result) {
  Clock::time_point origin = Clock::now();
  while (!generator.done()) {
    if (auto due = generator.due(origin)) {
      const Clock::time_point now = Clock::now();
      if (*due > now) {
        co_await sleep_until(*due);
      } else if (now - *due > kMaxBurst) {
        origin += now - *due - kMaxBurst;  // a stalled peer does not earn a bigger burst
      }
    }
    std::uint64_t lines = 0;
    std::string_view chunk = generator.next(lines);
    auto [ec, written] = co_await asio::async_write(stream, asio::buffer(chunk),
                                                    asio::as_tuple(asio::use_awaitable));
    result.bytes += written;
    if (ec) {
      result.error = describe("write", ec);
      co_return;
    }
    result.lines += lines;
  }
}

asio::awaitable<void> run_connection(const LoadGenOptions& options, asio::ssl::context* tls,
                                     std::uint32_t index, ConnectionResult& result) {
  tcp::socket socket(co_await asio::this_coro::executor);
  if (error_code ec =
          co_await bounded(connect(socket, options.host, options.port), options.connect_timeout)) {
    result.error = describe("connect", ec);
    co_return;
  }
  Generator generator(options, index);
  error_code ignored;
  if (tls != nullptr) {
    asio::ssl::stream<tcp::socket&> stream(socket, *tls);
    error_code not_ip;
    asio::ip::make_address(options.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), options.host.c_str());
    if (!options.tls_skip_verify) {
      stream.set_verify_mode(asio::ssl::verify_peer);
      stream.set_verify_callback(asio::ssl::host_name_verification(options.host));
    }
    if (error_code ec = co_await bounded(handshake(stream), options.connect_timeout)) {
      result.error = describe("TLS handshake", ec);
      co_return;
    }
    result.tls_cipher = SSL_get_cipher_name(stream.native_handle());
    co_await send_lines(stream, generator, result);
    if (result.error.empty()) co_await bounded(tls_shutdown(stream), options.close_timeout);
  } else {
    co_await send_lines(socket, generator, result);
    if (result.error.empty()) {
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      co_await bounded(wait_for_eof(socket), options.close_timeout);
    }
  }
  socket.close(ignored);
}

asio::awaitable<void> run_bounded(const LoadGenOptions& options, asio::ssl::context* tls,
                                  std::uint32_t index, ConnectionResult& result) {
  if (options.deadline.count() == 0) {
    co_await run_connection(options, tls, index, result);
    co_return;
  }
  auto winner = co_await (run_connection(options, tls, index, result) ||
                          sleep_until(Clock::now() + options.deadline));
  if (winner.index() == 1) {
    result.error = jsontcplb::str_cat("deadline of ", options.deadline.count(), " ms exceeded");
  }
}

}  // namespace

std::string LoadGenResult::to_json() const {
  return jsontcplb::str_cat("{\"lines\":", lines, ",\"bytes\":", bytes, ",\"seconds\":", seconds,
                            ",\"lines_per_sec\":", seconds > 0 ? lines / seconds : 0.0,
                            ",\"bytes_per_sec\":", seconds > 0 ? bytes / seconds : 0.0,
                            ",\"failed_connections\":", failed_connections,
                            ",\"tls_cipher\":", json_quote(tls_cipher),
                            ",\"error\":", json_quote(error), "}");
}

LoadGenResult run_load_gen(const LoadGenOptions& options) {
  if (!is_valid_run_id(options.run_id)) {
    throw std::invalid_argument("run id \"" + options.run_id +
                                "\" must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (options.connections == 0) throw std::invalid_argument("connections must be at least 1");
  std::optional<asio::ssl::context> tls;
  if (options.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    if (options.tls_ca.empty()) {
      tls->set_default_verify_paths();
    } else {
      tls->load_verify_file(options.tls_ca);
    }
  }

  asio::io_context io;
  std::vector<ConnectionResult> results(options.connections);
  const Clock::time_point start = Clock::now();
  for (std::uint32_t i = 0; i < options.connections; ++i) {
    asio::co_spawn(io, run_bounded(options, tls ? &*tls : nullptr, i, results[i]),
                   [&results, i](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       results[i].error = ex.what();
                     }
                   });
  }
  io.run();

  LoadGenResult total;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (std::uint32_t i = 0; i < options.connections; ++i) {
    total.lines += results[i].lines;
    total.bytes += results[i].bytes;
    if (total.tls_cipher.empty()) total.tls_cipher = results[i].tls_cipher;
    if (results[i].error.empty()) continue;
    ++total.failed_connections;
    if (total.error.empty()) {
      total.error = jsontcplb::str_cat("connection ", i, ": ", results[i].error);
    }
  }
  return total;
}

}  // namespace lbtest
