#include "dataplane/listener.h"

#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>

#include "dataplane/client_session.h"
#include "dataplane/core/log.h"
#include "dataplane/core/options.h"
#include "dataplane/coro.h"
#include "dataplane/endpoint_text.h"
#include "dataplane/reader_threads.h"
#include "dataplane/stats.h"
#include "dataplane/tls_context.h"
#include "dataplane/tls_stream.h"

namespace jsontcplb {
namespace {

constexpr std::chrono::seconds kAcceptReportInterval(10);

}  // namespace

Listener::Listener(asio::io_context& io, std::shared_ptr<const SessionEnv> env, std::size_t readers)
    : io_(io), env_(std::move(env)), acceptor_(io) {
  if (readers > 0) readers_ = std::make_unique<ReaderThreads>(readers);
}

Listener::~Listener() = default;

absl::StatusOr<std::shared_ptr<Listener>> Listener::create(asio::io_context& io, const Options& o,
                                                           std::shared_ptr<const SessionEnv> env) {
  auto listener =
      std::make_shared<Listener>(io, std::move(env), static_cast<std::size_t>(o.threads - 1));
  if (o.tls_listen()) {
    auto tls = make_client_tls(o);
    if (!tls.ok()) return tls.status();
    listener->tls_ = *std::move(tls);
  }
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(o.addr, std::to_string(o.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        str_cat("invalid value \"", o.addr, "\" for -addr: ", ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& acceptor = listener->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        str_cat("cannot listen on ", endpoint_text(endpoint), ": ", ec.message()));
  }
  return listener;
}

tcp::endpoint Listener::endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::start() {
  co_spawn(
      io_, [self = shared_from_this()] { return self->accept_loop(); }, log_if_thrown("listener"));
}

void Listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> Listener::accept_loop() {
  auto self = shared_from_this();
  const ClientRegistry& registry = *env_->registry;
  asio::steady_timer pause(io_);
  std::uint64_t failures = 0;  // since the last report
  std::optional<std::chrono::steady_clock::time_point> last_report;
  const auto protocol = endpoint().protocol();  // accepted sockets share it
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseAwaitable);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // Typically EMFILE: new clients wait in the listen backlog until a connection closes.
      // Retry every 100 ms rather than spin; report at most every 10 s.
      ++failures;
      if (!last_report ||
          std::chrono::steady_clock::now() - *last_report >= kAcceptReportInterval) {
        last_report = std::chrono::steady_clock::now();
        rlimit limit{};
        ::getrlimit(RLIMIT_NOFILE, &limit);
        LB_LOG(kError, "cannot accept clients: ", ec.message(), " (", failures,
               " failed attempts; ", registry.size(), " clients connected; file descriptor limit ",
               static_cast<std::uint64_t>(limit.rlim_cur),
               ", raise it with ulimit -n or LimitNOFILE=); new clients wait");
        failures = 0;
      }
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(kUseAwaitable);
      continue;
    }
    env_->stats->client_accepted();
    boost::system::error_code pec;
    auto remote = socket.remote_endpoint(pec);
    std::string peer = pec ? std::string("?") : endpoint_text(remote);
    // With -threads > 1 the session lives on a reader thread: its socket moves to that
    // thread's io_context, and it posts what it reads to the data-plane thread.
    asio::any_io_executor executor = io_.get_executor();
    if (readers_) {
      executor = readers_->next();
      boost::system::error_code rec;
      const auto handle = socket.release(rec);
      if (rec) {
        LB_LOG(kWarn, "client ", peer, ": cannot hand it to a reader thread: ", rec.message());
        continue;
      }
      socket = tcp::socket(executor, protocol, handle);
    }
    auto link = std::make_shared<ClientRegistry::Link>(ClientRegistry::Link{executor, nullptr});
    const std::uint64_t id = env_->registry->add(link);
    if (tls_) {
      co_spawn(
          executor,
          run_client_session(
              env_, std::make_unique<TlsStream>(std::move(socket), *tls_, TlsStream::Role::kServer),
              std::move(peer), std::move(link), id),
          log_if_thrown("client session"));
    } else {
      co_spawn(executor,
               run_client_session(env_, std::move(socket), std::move(peer), std::move(link), id),
               log_if_thrown("client session"));
    }
  }
}

}  // namespace jsontcplb
