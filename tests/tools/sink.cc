#include "tests/tools/sink.h"

#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "dataplane/core/log.h"

namespace lbtest {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBufferBytes = 256 * 1024;
// A "line" longer than this is counted as one malformed line and skipped up to its '\n'.
constexpr std::size_t kMaxLineBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxPendingAccepts = 4096;
constexpr auto kCloseTimeout = std::chrono::seconds(10);

std::uint64_t unix_now_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return std::uint64_t(now.tv_sec) * 1'000'000'000u + std::uint64_t(now.tv_nsec);
}

// memchr is vectorized in glibc; std::count over chars is not at -O2.
std::uint64_t count_newlines(std::string_view text) {
  std::uint64_t count = 0;
  const char* at = text.data();
  const char* const end = at + text.size();
  while (const void* nl = memchr(at, '\n', static_cast<std::size_t>(end - at))) {
    ++count;
    at = static_cast<const char*>(nl) + 1;
  }
  return count;
}

void log_exception(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    LB_LOG(kError, "sink: ", what, ": ", ex.what());
  }
}

}  // namespace

struct Sink::Impl {
  struct Connection;

  struct Port {
    HostPort address;  // port number filled in once bound
    // Sink thread only:
    std::shared_ptr<tcp::acceptor> acceptor;  // null while closed
    bool abort_on_close = false;              // how close_port asked to close
    std::list<Connection*> connections;
    // Read from any thread:
    std::atomic<std::uint64_t> lines{0}, bytes{0}, accepted{0}, cut{0}, unread_at_close{0},
        unread_at_fin{0};
    std::atomic<std::size_t> open{0};
    std::atomic<int> accept_loops{0};
  };

  // One accepted connection, owned by its serve() frame. It is listed in its Port from the
  // moment it is accepted until it is destroyed, so close_port always finds it.
  struct Connection {
    Connection(Impl& owner, std::size_t port_index, tcp::socket accepted_socket);
    ~Connection();
    Impl& impl;
    const std::size_t index;
    Port& port;
    std::list<Connection*>::iterator entry;
    tcp::socket socket;
    asio::steady_timer pace_timer;
    bool closing = false;  // we shut the socket down: a final fragment is ours, not the peer's
    bool abort = false;
    bool abandoned = false;    // stop reading now and close with what is left unread
    bool half_closed = false;  // FIN sent by stop_port_after_fin
  };

  // Benchmarks time a run from the first to the last byte received on any port.
  std::atomic<std::uint64_t> first_byte_ns{0}, last_byte_ns{0};

  explicit Impl(SinkOptions opts);
  ~Impl();

  tcp::acceptor open_acceptor(const HostPort& address);
  void start_accepting(std::size_t index, tcp::acceptor acceptor);
  asio::awaitable<void> accept_loop(std::size_t index, std::shared_ptr<tcp::acceptor> acceptor);
  void start_serving(std::size_t index, tcp::socket socket, bool close_now, bool abort);
  asio::awaitable<void> serve(std::unique_ptr<Connection> conn);
  template <typename Stream>
  asio::awaitable<void> read_lines(Stream& stream, Connection& conn);
  void deliver(std::size_t index, std::string_view text, bool complete_lines);
  static void begin_close(Connection& conn, bool abort);
  static void abandon(Connection& conn);
  static std::uint64_t unread_bytes(Connection& conn);
  /// Closes the port's listener; connections waiting in its accept queue are served, and
  /// closed at once when `close_now`.
  void stop_accepting(std::size_t index, bool close_now, bool abort);
  void run_on_sink_thread(const std::function<void()>& fn);
  void notify();

  const SinkOptions options;
  std::optional<asio::ssl::context> tls;
  Verifier verifier;
  mutable std::mutex mu;  // guards nothing but the wake-ups of cv
  mutable std::condition_variable cv;
  mutable std::mutex lines_mu;
  std::vector<std::string> kept_lines;  // guarded by lines_mu
  std::vector<std::unique_ptr<Port>> ports;
  // Declared after everything the coroutines touch: destroying the io_context destroys their
  // frames, whose clean-up still uses the ports, the cv and the TLS context.
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
};

Sink::Impl::Impl(SinkOptions opts) : options(std::move(opts)) {
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    tls.emplace(asio::ssl::context::tls_server);
    tls->use_certificate_chain_file(options.tls_cert);
    tls->use_private_key_file(options.tls_key, asio::ssl::context::pem);
  }
  std::vector<HostPort> addresses = options.listen;
  if (addresses.empty()) addresses.assign(options.ports, HostPort{options.host, 0});
  std::vector<tcp::acceptor> acceptors;
  for (const HostPort& address : addresses) {
    acceptors.push_back(open_acceptor(address));
    auto port = std::make_unique<Port>();
    port->address = HostPort{address.host, acceptors.back().local_endpoint().port()};
    ports.push_back(std::move(port));
  }
  for (std::size_t i = 0; i < acceptors.size(); ++i) start_accepting(i, std::move(acceptors[i]));
  thread = std::thread([this] { io.run(); });
}

Sink::Impl::~Impl() {
  io.stop();
  thread.join();
  // Acceptors must not outlive the io_context; suspended frames may still hold them.
  for (auto& port : ports) port->acceptor.reset();
}

Sink::Impl::Connection::Connection(Impl& owner, std::size_t port_index, tcp::socket accepted_socket)
    : impl(owner),
      index(port_index),
      port(*owner.ports[port_index]),
      socket(std::move(accepted_socket)),
      pace_timer(owner.io) {
  port.connections.push_front(this);
  entry = port.connections.begin();
  ++port.open;
  ++port.accepted;
  impl.notify();
}

Sink::Impl::Connection::~Connection() {
  port.connections.erase(entry);
  --port.open;
  impl.notify();
}

tcp::acceptor Sink::Impl::open_acceptor(const HostPort& address) {
  tcp::resolver resolver(io);
  tcp::endpoint endpoint =
      resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive)
          .begin()
          ->endpoint();
  tcp::acceptor acceptor(io, endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  // Set on the listener: accepted sockets inherit it, and have it before the handshake, where
  // the window scale is chosen.
  if (options.rcvbuf > 0)
    acceptor.set_option(asio::socket_base::receive_buffer_size(options.rcvbuf));
  acceptor.bind(endpoint);
  acceptor.listen();
  return acceptor;
}

void Sink::Impl::start_accepting(std::size_t index, tcp::acceptor acceptor) {
  auto shared = std::make_shared<tcp::acceptor>(std::move(acceptor));
  ports[index]->acceptor = shared;
  ++ports[index]->accept_loops;  // now, not when the coroutine first runs: close_port waits on it
  asio::co_spawn(io, accept_loop(index, std::move(shared)),
                 [](std::exception_ptr e) { log_exception("accept loop", e); });
}

asio::awaitable<void> Sink::Impl::accept_loop(std::size_t index,
                                              std::shared_ptr<tcp::acceptor> acceptor) {
  Port& port = *ports[index];
  struct Exit {  // also when the frame is destroyed suspended
    Impl& impl;
    Port& port;
    ~Exit() {
      --port.accept_loops;
      impl.notify();
    }
  } on_exit{*this, port};
  while (true) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
    // close_port may have run between the accept and this resumption.
    const bool closed = port.acceptor != acceptor;
    if (ec) {
      if (!closed) {
        LB_LOG(kError, "sink: accept on ", port.address.to_string(), ": ", ec.message());
        port.acceptor.reset();
      }
      break;
    }
    start_serving(index, std::move(socket), closed, port.abort_on_close);
    if (closed) break;
  }
}

void Sink::Impl::start_serving(std::size_t index, tcp::socket socket, bool close_now, bool abort) {
  auto conn = std::make_unique<Connection>(*this, index, std::move(socket));
  if (close_now) begin_close(*conn, abort);
  asio::co_spawn(io, serve(std::move(conn)),
                 [](std::exception_ptr e) { log_exception("connection", e); });
}

asio::awaitable<void> Sink::Impl::serve(std::unique_ptr<Connection> conn) {
  boost::system::error_code ignored;
  if (tls) {
    asio::ssl::stream<tcp::socket&> stream(conn->socket, *tls);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                asio::as_tuple(asio::use_awaitable));
    if (ec) {
      LB_LOG(kWarn, "sink: TLS handshake on ", conn->port.address.to_string(), ": ", ec.message());
    } else {
      co_await read_lines(stream, *conn);
    }
  } else {
    co_await read_lines(conn->socket, *conn);
  }
  if (conn->abort) conn->socket.set_option(asio::socket_base::linger(true, 0), ignored);
  conn->socket.close(ignored);
}

template <typename Stream>
asio::awaitable<void> Sink::Impl::read_lines(Stream& stream, Connection& conn) {
  Port& port = conn.port;
  const std::size_t index = conn.index;
  std::vector<char> buffer(kReadBufferBytes);
  std::size_t used = 0;     // carried partial line at the front of `buffer`
  bool discarding = false;  // inside an over-long line, skipping to its '\n'
  const std::uint64_t rate = options.rate_bytes_per_sec;
  // Rate-limited reads take ~20 ms of data at a time so pacing stays smooth.
  const std::size_t paced_read = std::max<std::size_t>(1, rate / 50);
  const Clock::time_point start = Clock::now();
  std::uint64_t read_total = 0;
  while (true) {
    std::size_t want = buffer.size() - used;
    const bool paced = rate > 0 && !conn.closing;
    if (paced) want = std::min(want, paced_read);
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buffer.data() + used, want),
                                                   asio::as_tuple(asio::use_awaitable));
    port.bytes += n;
    read_total += n;
    if (n > 0) {
      const std::uint64_t now_ns = unix_now_ns();
      std::uint64_t none = 0;
      first_byte_ns.compare_exchange_strong(none, now_ns, std::memory_order_relaxed);
      last_byte_ns.store(now_ns, std::memory_order_relaxed);
    }
    std::size_t end = used + n;
    std::size_t scan_from = used;  // the carried part holds no '\n'
    if (discarding && n > 0) {
      const void* newline = memchr(buffer.data(), '\n', end);
      if (newline == nullptr) {
        end = 0;
      } else {
        const std::size_t skip = static_cast<const char*>(newline) - buffer.data() + 1;
        memmove(buffer.data(), buffer.data() + skip, end - skip);
        end -= skip;
        discarding = false;
      }
      scan_from = 0;
    }
    if (const void* last = memrchr(buffer.data() + scan_from, '\n', end - scan_from)) {
      const std::size_t complete = static_cast<const char*>(last) - buffer.data() + 1;
      deliver(index, std::string_view(buffer.data(), complete), true);
      memmove(buffer.data(), buffer.data() + complete, end - complete);
      end -= complete;
    }
    used = end;
    if (used == buffer.size()) {
      if (buffer.size() < kMaxLineBytes) {
        buffer.resize(buffer.size() * 2);
      } else {
        deliver(index, std::string_view(buffer.data(), used), false);
        used = 0;
        discarding = true;
      }
    }
    if (ec || conn.abandoned) break;
    if (paced && !conn.closing) {  // close_port may have come in during the read
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(double(read_total) / rate));
      if (due > Clock::now()) {
        conn.pace_timer.expires_at(due);
        co_await conn.pace_timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (conn.abandoned) break;
      }
    }
  }
  if (used > 0 && !discarding) {
    // A final fragment: the sender's fault, unless we cut the connection ourselves.
    if (conn.closing) {
      ++port.cut;
      notify();
    } else {
      deliver(index, std::string_view(buffer.data(), used), false);
    }
  }
}

// `text` is either whole lines each ending in '\n', or one fragment that lacks it.
void Sink::Impl::deliver(std::size_t index, std::string_view text, bool complete_lines) {
  std::uint64_t count = 1;
  if (!options.verify) {
    if (complete_lines) count = count_newlines(text);
  } else if (complete_lines) {
    count = verifier.add_lines(text);
  } else {
    verifier.add_fragment(text);
  }
  if (options.keep_lines || options.on_line) {
    std::unique_lock lock(lines_mu, std::defer_lock);
    if (options.keep_lines) lock.lock();
    while (!text.empty()) {
      const std::size_t end = std::min(text.find('\n'), text.size());
      const std::string_view line = text.substr(0, end);
      if (options.keep_lines) kept_lines.emplace_back(line);
      if (options.on_line) options.on_line(index, ports[index]->address.port, line);
      text.remove_prefix(std::min(end + 1, text.size()));
    }
  }
  ports[index]->lines += count;
  notify();
}

void Sink::Impl::begin_close(Connection& conn, bool abort) {
  conn.abort = conn.abort || abort;
  if (conn.closing) return;
  conn.closing = true;
  conn.port.unread_at_fin += unread_bytes(conn);
  // Both directions: our FIN puts the socket in FIN_WAIT, where Linux resets a peer that sends
  // more instead of acknowledging data nobody will read. What was acknowledged already stays
  // readable, and the read loop drains it before it sees EOF.
  boost::system::error_code ignored;
  conn.socket.shutdown(tcp::socket::shutdown_both, ignored);
  conn.pace_timer.cancel();
}

std::uint64_t Sink::Impl::unread_bytes(Connection& conn) {
  int unread = 0;
  if (::ioctl(conn.socket.native_handle(), FIONREAD, &unread) != 0 || unread < 0) return 0;
  return static_cast<std::uint64_t>(unread);
}

void Sink::Impl::abandon(Connection& conn) {
  if (conn.abandoned) return;
  conn.port.unread_at_close += unread_bytes(conn);
  conn.abandoned = conn.closing = true;  // a partly read line is cut by us
  boost::system::error_code ignored;
  conn.socket.cancel(ignored);
  conn.pace_timer.cancel();
}

void Sink::Impl::stop_accepting(std::size_t i, bool close_now, bool abort) {
  Port& port = *ports[i];
  port.abort_on_close = abort;
  if (port.acceptor == nullptr) return;
  boost::system::error_code ec;
  // Connections in the accept queue are established: the kernel may have acknowledged data on
  // them already. Take them and treat them like the others. (With TLS no data can precede our
  // half of the handshake, so the queue can simply be reset.)
  if (!tls) port.acceptor->non_blocking(true, ec);
  for (std::size_t k = 0; !tls && !ec && k < kMaxPendingAccepts; ++k) {
    tcp::socket socket(io);
    port.acceptor->accept(socket, ec);  // would_block once the queue is empty
    if (!ec) start_serving(i, std::move(socket), close_now, abort);
  }
  port.acceptor->close(ec);
  port.acceptor.reset();
}

void Sink::Impl::run_on_sink_thread(const std::function<void()>& fn) {
  if (std::this_thread::get_id() == thread.get_id()) {
    fn();
    return;
  }
  std::packaged_task<void()> task(fn);
  std::future<void> done = task.get_future();
  asio::post(io, [&task] { task(); });
  done.get();  // rethrows what fn threw
}

void Sink::Impl::notify() {
  // Taking the mutex orders this change before a waiter's predicate check, so no wake-up is lost.
  { std::lock_guard lock(mu); }
  cv.notify_all();
}

Sink::Sink(SinkOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Sink::~Sink() = default;

std::vector<std::uint16_t> Sink::ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& port : impl_->ports) out.push_back(port->address.port);
  return out;
}

std::size_t Sink::port_count() const { return impl_->ports.size(); }

std::uint64_t Sink::lines(std::size_t i) const { return impl_->ports.at(i)->lines; }
std::uint64_t Sink::bytes(std::size_t i) const { return impl_->ports.at(i)->bytes; }
std::size_t Sink::connections(std::size_t i) const { return impl_->ports.at(i)->open; }
std::uint64_t Sink::accepted(std::size_t i) const { return impl_->ports.at(i)->accepted; }
std::uint64_t Sink::cut_lines(std::size_t i) const { return impl_->ports.at(i)->cut; }

std::uint64_t Sink::total_lines() const {
  std::uint64_t total = 0;
  for (const auto& port : impl_->ports) total += port->lines;
  return total;
}

std::uint64_t Sink::total_bytes() const {
  std::uint64_t total = 0;
  for (const auto& port : impl_->ports) total += port->bytes;
  return total;
}

std::uint64_t Sink::first_byte_unix_ns() const { return impl_->first_byte_ns; }
std::uint64_t Sink::last_byte_unix_ns() const { return impl_->last_byte_ns; }

bool Sink::wait_for_total_lines(std::uint64_t n, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return total_lines() >= n; }, timeout);
}

bool Sink::wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, done);
}

bool Sink::close_port(std::size_t i, bool abort) {
  Impl& impl = *impl_;
  Impl::Port& port = *impl.ports.at(i);
  impl.run_on_sink_thread([&] {
    impl.stop_accepting(i, /*close_now=*/true, abort);
    for (Impl::Connection* conn : port.connections) Impl::begin_close(*conn, abort);
  });
  // The accept loop may still hold a connection accepted just before the close.
  return wait_until([&] { return port.open == 0 && port.accept_loops == 0; }, kCloseTimeout);
}

bool Sink::stop_port_after_fin(std::size_t i, std::chrono::milliseconds keep_reading) {
  Impl& impl = *impl_;
  Impl::Port& port = *impl.ports.at(i);
  auto half_close_all = [&] {
    for (Impl::Connection* conn : port.connections) {
      boost::system::error_code ignored;
      if (conn->half_closed) continue;
      conn->half_closed = true;
      conn->port.unread_at_fin += Impl::unread_bytes(*conn);
      conn->socket.shutdown(tcp::socket::shutdown_send, ignored);
    }
  };
  impl.run_on_sink_thread([&] {
    impl.stop_accepting(i, /*close_now=*/false, /*abort=*/false);
    half_close_all();
  });
  // Connections the accept loop took just before the listener closed are half-closed too.
  const bool settled = wait_until([&] { return port.accept_loops == 0; }, kCloseTimeout);
  impl.run_on_sink_thread(half_close_all);
  std::this_thread::sleep_for(keep_reading);  // the receiver's own grace period
  impl.run_on_sink_thread([&] {
    for (Impl::Connection* conn : port.connections) Impl::abandon(*conn);
  });
  return wait_until([&] { return port.open == 0; }, kCloseTimeout) && settled;
}

std::uint64_t Sink::unread_at_close(std::size_t i) const {
  return impl_->ports.at(i)->unread_at_close;
}

std::uint64_t Sink::unread_at_fin(std::size_t i) const { return impl_->ports.at(i)->unread_at_fin; }

void Sink::reopen_port(std::size_t i) {
  Impl& impl = *impl_;
  Impl::Port& port = *impl.ports.at(i);
  impl.run_on_sink_thread([&] {
    if (port.acceptor == nullptr) impl.start_accepting(i, impl.open_acceptor(port.address));
  });
}

const Verifier& Sink::verifier() const { return impl_->verifier; }

std::vector<std::string> Sink::received_lines() const {
  std::lock_guard lock(impl_->lines_mu);
  return impl_->kept_lines;
}

}  // namespace lbtest
