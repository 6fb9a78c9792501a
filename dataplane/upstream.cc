#include "dataplane/upstream.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <limits>

#include "dataplane/core/str_cat.h"
#include "dataplane/coro.h"
#include "dataplane/endpoint_text.h"
#include "dataplane/socket_options.h"
#include "dataplane/tcp_info.h"
#include "dataplane/tls_stream.h"

namespace jsontcplb {

Upstream::Upstream(tcp::socket socket, asio::ssl::context* tls) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : endpoint_text(remote);
  if (auto progress = tcp_progress(socket.native_handle())) {
    acked_base_ = progress->bytes_acked;
    // The SYN-ACK's window: never scaled, so at most 64 KiB, but advertised while the target's
    // buffer was empty. Sampling later may only ever catch it partly full.
    max_window_ = progress->peer_window;
  }
  if (tls != nullptr) {
    tls_ = std::make_unique<TlsStream>(std::move(socket), *tls, TlsStream::Role::kClient);
  } else {
    plain_.emplace(std::move(socket));
  }
}

Upstream::~Upstream() = default;

tcp::socket& Upstream::socket() { return plain_ ? *plain_ : tls_->socket(); }

const tcp::socket& Upstream::socket() const { return plain_ ? *plain_ : tls_->socket(); }

std::uint64_t Upstream::wire_bytes() const { return tls_ ? tls_->bytes_sent() : wire_bytes_; }

asio::awaitable<absl::StatusOr<std::shared_ptr<Upstream>>> Upstream::connect(
    const TargetAddress& target, const ConnectSettings& settings) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer deadline(executor, settings.timeout);
  tcp::socket socket(executor);

  auto attempt = [&]() -> asio::awaitable<std::string> {
    // An IP literal needs no resolver: asio's runs on a thread of its own, started (with an
    // io_context and its descriptors) at the first lookup, which may come when descriptors
    // have run out.
    boost::system::error_code aec;
    const auto ip = asio::ip::make_address(target.host, aec);
    if (!aec) {
      auto [cec] = co_await socket.async_connect(tcp::endpoint(ip, target.port), kUseAwaitable);
      if (cec) co_return str_cat("connect: ", cec.message());
      co_return std::string();
    }
    tcp::resolver resolver(executor);
    auto [rec, results] =
        co_await resolver.async_resolve(target.host, std::to_string(target.port), kUseAwaitable);
    if (rec) co_return str_cat("resolve: ", rec.message());
    auto [cec, ep] = co_await asio::async_connect(socket, results, kUseAwaitable);
    if (cec) co_return str_cat("connect: ", cec.message());
    co_return std::string();
  };
  auto failed = [](const std::string& why) { return absl::UnavailableError(why); };
  auto outcome = co_await (attempt() || deadline.async_wait(kUseAwaitable));
  if (outcome.index() == 1) {
    co_return failed(str_cat("timed out after ", settings.timeout.count(), "ms"));
  }
  if (!std::get<0>(outcome).empty()) co_return failed(std::get<0>(outcome));

  set_upstream_socket_options(socket.native_handle(), settings.user_timeout_ms);
  auto upstream = std::make_shared<Upstream>(std::move(socket), settings.tls);
  if (settings.tls != nullptr) {
    deadline.expires_after(settings.timeout);
    auto hs = co_await (upstream->handshake(target.host, settings.verify_host) ||
                        deadline.async_wait(kUseAwaitable));
    if (hs.index() == 1) {
      co_return failed(str_cat("TLS handshake timed out after ", settings.timeout.count(), "ms"));
    }
    if (auto ec = std::get<0>(hs)) co_return failed(str_cat("TLS handshake: ", ec.message()));
  }
  co_return upstream;
}

std::string Upstream::describe() const {
  return tls_ ? str_cat(peer_, ", ", tls_->negotiated()) : peer_;
}

asio::awaitable<boost::system::error_code> Upstream::handshake(const std::string& host,
                                                               bool verify_host) {
  if (!tls_) co_return boost::system::error_code();
  // SNI, and the name (or IP) the certificate must carry.
  tls_->expect_host(host, verify_host);
  co_return co_await tls_->handshake();
}

asio::awaitable<boost::system::error_code> Upstream::write(
    std::span<const asio::const_buffer> buffers) {
  if (tls_) co_return co_await tls_->write(buffers);
  // asio's transfer_all stops each system call at 64 KiB; a batch is often a little more than
  // that, which cost a second sendmsg for its last few bytes. Offer everything at once.
  auto all_at_once = [](const boost::system::error_code& ec, std::size_t) -> std::size_t {
    return ec ? 0 : std::numeric_limits<std::size_t>::max();
  };
  auto [ec, n] = co_await asio::async_write(*plain_, buffers, all_at_once, kUseAwaitable);
  wire_bytes_ += n;
  co_return ec;
}

asio::awaitable<std::pair<boost::system::error_code, std::size_t>> Upstream::read_some(
    asio::mutable_buffer buffer) {
  if (tls_) {
    auto [ec, n] = co_await tls_->read_some(buffer);
    co_return std::pair<boost::system::error_code, std::size_t>{ec, n};
  }
  auto [ec, n] = co_await plain_->async_read_some(buffer, kUseAwaitable);
  co_return std::pair<boost::system::error_code, std::size_t>{ec, n};
}

std::optional<Upstream::Delivery> Upstream::delivery() {
  tcp::socket& s = socket();
  if (!s.is_open()) return std::nullopt;
  auto progress = tcp_progress(s.native_handle());
  if (!progress) return std::nullopt;
  Delivery d;
  d.acked = progress->bytes_acked >= acked_base_ ? progress->bytes_acked - acked_base_ : 0;
  d.closed = progress->closed;
  max_window_ = std::max(max_window_, progress->peer_window);
  // The window is the free part of the target's buffer, scaled (Linux advertises half the free
  // memory with tcp_adv_win_scale 1, Debian 12's kernel, or a measured payload share of it from
  // 6.6 on), and capped by rcv_ssthresh, which grows while data arrives. So unread payload can
  // be twice what the window lost (a target killed with 21,384 bytes unread had shrunk its
  // window by 16,384), and a target whose window was capped can hold a window's worth more than
  // the shrink shows (793,254 unread behind a largest window of about 400,000). Hence twice the
  // shrink, and a window more for a target that vanished without a last, fresh window.
  d.shrunk = max_window_ - std::min(max_window_, progress->peer_window);
  d.unread = std::min<std::uint64_t>(d.acked, 2 * d.shrunk);
  d.unread_if_crashed = std::min<std::uint64_t>(d.acked, 2 * d.shrunk + max_window_);
  return d;
}

asio::awaitable<void> Upstream::shutdown_send(std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  if (tls_ && !failed_) {
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    // close_notify; the peer's reply is not awaited beyond the deadline.
    co_await (tls_->shutdown() || timer.async_wait(kUseAwaitable));
  }
  boost::system::error_code ec;
  socket().shutdown(tcp::socket::shutdown_send, ec);
}

void Upstream::cancel() {
  boost::system::error_code ec;
  socket().cancel(ec);
}

void Upstream::close() {
  boost::system::error_code ec;
  socket().close(ec);
}

void Upstream::abort() {
  boost::system::error_code ec;
  socket().set_option(asio::socket_base::linger(true, 0), ec);
  socket().close(ec);
}

void Upstream::mark_failed(std::string reason) {
  if (failed_) return;
  failed_ = true;
  failure_ = std::move(reason);
}

}  // namespace jsontcplb
