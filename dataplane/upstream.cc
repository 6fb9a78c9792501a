#include "dataplane/upstream.h"

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
  acked_base_ = tcp_bytes_acked(socket.native_handle()).value_or(0);
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

std::optional<std::uint64_t> Upstream::acked_bytes() const {
  auto& s = const_cast<tcp::socket&>(socket());
  if (!s.is_open()) return std::nullopt;
  auto acked = tcp_bytes_acked(s.native_handle());
  if (!acked) return std::nullopt;
  return *acked >= acked_base_ ? *acked - acked_base_ : 0;
}

bool Upstream::all_acked() const {
  auto acked = acked_bytes();
  return acked && *acked >= wire_bytes();
}

asio::awaitable<bool> Upstream::close_gracefully(std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (tls_ && !failed_) {
    // close_notify; the peer's reply is not awaited beyond the deadline.
    co_await (tls_->shutdown() || timer.async_wait(kUseAwaitable));
  }
  boost::system::error_code ec;
  socket().shutdown(tcp::socket::shutdown_send, ec);
  bool acked = all_acked();
  // Acknowledgements have no completion event; poll TCP_INFO until the deadline.
  while (!acked && !ec && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(kUseAwaitable);
    acked = all_acked();
  }
  close();
  co_return acked;
}

void Upstream::cancel() {
  boost::system::error_code ec;
  socket().cancel(ec);
}

void Upstream::close() {
  boost::system::error_code ec;
  socket().close(ec);
}

void Upstream::mark_failed(std::string reason) {
  if (failed_) return;
  failed_ = true;
  failure_ = std::move(reason);
}

}  // namespace jsontcplb
