#include "tests/tools/relay.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "dataplane/coro.h"

namespace lbtest {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using jsontcplb::kUseAwaitable;

constexpr std::size_t kCopyBufferBytes = 64 * 1024;
constexpr int kPipeBytes = 1024 * 1024;  // F_SETPIPE_SZ, best effort (pipe-max-size)

// The two ends of a pipe that splice(2) moves pages through.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read_end_ = fds[0];
    write_end_ = fds[1];
    fcntl(write_end_, F_SETPIPE_SZ, kPipeBytes);  // the default 64 KiB still works
  }
  ~Pipe() {
    close(read_end_);
    close(write_end_);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int read_end() const { return read_end_; }
  int write_end() const { return write_end_; }

 private:
  int read_end_ = -1, write_end_ = -1;
};

// splice(2) one chunk; EAGAIN waits for the socket to become ready, and the call is retried.
// Returns bytes moved (0: end of stream), or an error.
asio::awaitable<std::pair<boost::system::error_code, std::size_t>> splice_some(
    int from, int to, std::size_t max, tcp::socket& wait_on, tcp::socket::wait_type wait) {
  while (true) {
    const ssize_t n = ::splice(from, nullptr, to, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) co_return std::pair{boost::system::error_code{}, static_cast<std::size_t>(n)};
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      co_return std::pair{boost::system::error_code(errno, boost::system::system_category()),
                          std::size_t{0}};
    }
    auto [ec] = co_await wait_on.async_wait(wait, kUseAwaitable);
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
}

// Client to target with no copy into user space. The pipe is empty whenever the client is
// read, so EAGAIN there means the client has nothing to read.
asio::awaitable<boost::system::error_code> forward_spliced(tcp::socket& client,
                                                           tcp::socket& target) {
  const Pipe pipe;
  client.non_blocking(true);
  target.non_blocking(true);
  while (true) {
    auto [in_ec, in] = co_await splice_some(client.native_handle(), pipe.write_end(), kPipeBytes,
                                            client, tcp::socket::wait_read);
    if (in_ec || in == 0) co_return in_ec;
    for (std::size_t left = in; left > 0;) {
      auto [out_ec, out] = co_await splice_some(pipe.read_end(), target.native_handle(), left,
                                                target, tcp::socket::wait_write);
      if (out_ec) co_return out_ec;
      if (out == 0) co_return asio::error::broken_pipe;  // an empty pipe: cannot happen
      left -= out;
    }
  }
}

// Client to target the way any user-space proxy does it: read into a buffer, write it out.
asio::awaitable<boost::system::error_code> forward_copied(tcp::socket& client,
                                                          tcp::socket& target) {
  std::vector<char> buffer(kCopyBufferBytes);
  while (true) {
    auto [in_ec, in] = co_await client.async_read_some(asio::buffer(buffer), kUseAwaitable);
    if (in_ec == asio::error::eof) co_return boost::system::error_code{};
    if (in_ec) co_return in_ec;
    auto [out_ec, out] =
        co_await asio::async_write(target, asio::buffer(buffer.data(), in), kUseAwaitable);
    if (out_ec) co_return out_ec;
  }
}

}  // namespace

struct Relay::Impl {
  explicit Impl(RelayOptions opts);
  ~Impl();

  asio::awaitable<void> accept_loop(tcp::acceptor acceptor);
  asio::awaitable<void> serve(tcp::socket client, tcp::endpoint target_endpoint);

  const RelayOptions options;
  std::vector<tcp::endpoint> targets;
  std::atomic<std::size_t> accepted{0};
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<asio::io_context>> contexts;  // contexts[0] also accepts
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
};

Relay::Impl::Impl(RelayOptions opts) : options(std::move(opts)) {
  if (options.targets.empty()) throw std::invalid_argument("relay: no targets");
  const unsigned thread_count = std::max(1u, options.threads);
  for (unsigned i = 0; i < thread_count; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    work.push_back(asio::make_work_guard(*contexts.back()));
  }
  asio::io_context& first = *contexts.front();
  tcp::resolver resolver(first);
  for (const HostPort& target : options.targets) {
    targets.push_back(
        resolver.resolve(target.host, std::to_string(target.port)).begin()->endpoint());
  }
  const tcp::endpoint listen_on =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive)
          .begin()
          ->endpoint();
  tcp::acceptor acceptor(first, listen_on.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(listen_on);
  acceptor.listen();
  port = acceptor.local_endpoint().port();
  asio::co_spawn(first, accept_loop(std::move(acceptor)),
                 jsontcplb::log_if_thrown("relay: accept loop"));
  for (auto& context : contexts) threads.emplace_back([&io = *context] { io.run(); });
}

Relay::Impl::~Impl() {
  work.clear();  // the guards must go before their contexts
  for (auto& context : contexts) context->stop();
  for (std::thread& thread : threads) thread.join();
  // A suspended accept on contexts[0] may hold a socket of another context: destroy in order.
  for (auto& context : contexts) context.reset();
}

asio::awaitable<void> Relay::Impl::accept_loop(tcp::acceptor acceptor) {
  while (true) {
    const std::size_t n = accepted++;
    asio::io_context& io = *contexts[n % contexts.size()];
    auto [ec, client] = co_await acceptor.async_accept(io, kUseAwaitable);
    if (ec) {
      LB_LOG(kError, "relay: accept: ", ec.message());
      co_return;
    }
    asio::co_spawn(io, serve(std::move(client), targets[n % targets.size()]),
                   jsontcplb::log_if_thrown("relay: connection"));
  }
}

asio::awaitable<void> Relay::Impl::serve(tcp::socket client, tcp::endpoint target_endpoint) {
  tcp::socket target(co_await asio::this_coro::executor);
  auto [connect_ec] = co_await target.async_connect(target_endpoint, kUseAwaitable);
  if (connect_ec) {
    LB_LOG(kWarn, "relay: connect to ", target_endpoint.address().to_string(), ":",
           target_endpoint.port(), ": ", connect_ec.message());
    co_return;
  }
  boost::system::error_code ignored;
  target.set_option(tcp::no_delay(true), ignored);
  const boost::system::error_code ec = options.splice ? co_await forward_spliced(client, target)
                                                      : co_await forward_copied(client, target);
  if (ec) LB_LOG(kWarn, "relay: forwarding: ", ec.message());
  // The client's end of stream becomes the target's; the client is closed once the target has
  // read everything and closed, so a client waiting for our close knows its bytes arrived.
  // What the target sends is read and dropped.
  target.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 4096> discard;
  while (true) {
    auto [read_ec, n] = co_await target.async_read_some(asio::buffer(discard), kUseAwaitable);
    if (read_ec) break;
  }
}

Relay::Relay(RelayOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Relay::~Relay() = default;

std::uint16_t Relay::port() const { return impl_->port; }

}  // namespace lbtest
