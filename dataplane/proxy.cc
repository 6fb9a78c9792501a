#include "dataplane/proxy.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdlib>

#include "dataplane/client_session.h"
#include "dataplane/core/log.h"
#include "dataplane/core/units.h"
#include "dataplane/reader_threads.h"
#include "dataplane/spawn.h"
#include "dataplane/tls_stream.h"
#include "dataplane/upstream.h"
#include "dataplane/worker.h"

namespace jsontcplb {
namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kProgressInterval(5);
// How often gauges and the write-time histogram are published (a scrape sees values at most
// this old; Prometheus scrapes every 15 s by default).
constexpr std::chrono::seconds kMetricsInterval(1);
constexpr std::chrono::seconds kAcceptReportInterval(10);

// Loads a PEM file into a context; the error names the flag.
std::optional<Proxy::StartError> load(std::string_view flag, const std::string& path,
                                      const std::function<void()>& action) {
  try {
    action();
  } catch (const boost::system::system_error& e) {
    return Proxy::StartError{
        2, str_cat("invalid value \"", path, "\" for -", flag, ": ", e.code().message())};
  }
  return std::nullopt;
}

}  // namespace

Proxy::Proxy(asio::io_context& io, Options options, std::shared_ptr<Metrics> metrics)
    : io_(io),
      options_(std::move(options)),
      queue_(options_.queue_bytes),
      metrics_(std::move(metrics)),
      metrics_timer_(io),
      signals_(io, SIGINT, SIGTERM),
      drain_timer_(io),
      default_connections_(options_.connections) {
  for (const TargetAddress& address : options_.targets) {
    targets_.push_back(make_target(TargetSpec{address, 0}));
  }
  if (options_.threads > 1) {
    readers_ = std::make_unique<ReaderThreads>(static_cast<std::size_t>(options_.threads - 1));
  }
}

std::shared_ptr<TargetState> Proxy::make_target(const TargetSpec& spec) {
  auto target = std::make_shared<TargetState>();
  target->address = spec.address;
  target->name = spec.address.to_string();
  target->connections = spec.connections;
  target->metrics = metrics_->add_target(target->name);
  return target;
}

Proxy::~Proxy() = default;

std::variant<std::shared_ptr<Proxy>, Proxy::StartError> Proxy::create(
    asio::io_context& io, Options options, std::shared_ptr<Metrics> metrics) {
  auto proxy = std::make_shared<Proxy>(io, std::move(options), std::move(metrics));
  const Options& o = proxy->options_;
  if (o.tls_listen()) {
    auto& ctx = proxy->client_tls_.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    if (auto e = load("tls-cert", o.tls_cert, [&] { ctx.use_certificate_chain_file(o.tls_cert); }))
      return *e;
    if (auto e = load("tls-key", o.tls_key,
                      [&] { ctx.use_private_key_file(o.tls_key, asio::ssl::context::pem); }))
      return *e;
    if (!o.tls_client_ca.empty()) {
      if (auto e = load("tls-client-ca", o.tls_client_ca,
                        [&] { ctx.load_verify_file(o.tls_client_ca); }))
        return *e;
      ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
  }
  if (o.tls_target) {
    auto& ctx = proxy->upstream_tls_.emplace(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    if (o.tls_target_skip_verify) {
      ctx.set_verify_mode(asio::ssl::verify_none);
    } else {
      ctx.set_verify_mode(asio::ssl::verify_peer);
      if (!o.tls_target_ca.empty()) {
        if (auto e = load("tls-target-ca", o.tls_target_ca,
                          [&] { ctx.load_verify_file(o.tls_target_ca); }))
          return *e;
      } else {
        ctx.set_default_verify_paths();
      }
    }
  }

  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(o.addr, std::to_string(o.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return StartError{
        2, str_cat("invalid value \"", o.addr, "\" for -addr: ", ec ? ec.message() : "no address")};
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto& acceptor = proxy->acceptor_.emplace(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return StartError{1, str_cat("cannot listen on ", endpoint_text(endpoint), ": ", ec.message())};
  }
  return proxy;
}

tcp::endpoint Proxy::listen_endpoint() const {
  boost::system::error_code ec;
  return acceptor_ ? acceptor_->local_endpoint(ec) : tcp::endpoint();
}

void Proxy::start() {
  std::string names;
  for (const auto& t : targets_) str_append(names, names.empty() ? "" : ", ", t->name);
  LB_LOG(kInfo, "json-tcp-lb listening on ", endpoint_text(listen_endpoint()),
         options_.tls_listen() ? " (TLS)" : "", "; ", targets_.size(), " target(s) x ",
         options_.connections, " connections", options_.tls_target ? " (TLS)" : "", ": ", names);
  auto self = shared_from_this();
  for (const auto& target : targets_) {
    for (int c = 0; c < options_.connections; ++c)
      start_worker(target, static_cast<std::size_t>(c));
  }
  co_spawn(
      io_, [self]() { return self->accept_loop(*self->acceptor_); }, log_if_thrown("listener"));
  co_spawn(
      io_, [self]() { return self->signal_loop(); }, log_if_thrown("signal handler"));
  co_spawn(
      io_, [self]() { return self->metrics_loop(); }, log_if_thrown("metrics"));
}

void Proxy::start_worker(std::shared_ptr<TargetState> home, std::size_t spread) {
  auto name = str_cat(home->name, "#", spread);
  auto worker = std::make_shared<Worker>(shared_from_this(), std::move(home), spread, name);
  workers_.push_back(worker);
  co_spawn(io_, Worker::run(worker), log_if_thrown(str_cat("worker ", name)));
}

asio::awaitable<void> Proxy::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  asio::steady_timer pause(io_);
  std::uint64_t failures = 0;  // since the last report
  std::optional<std::chrono::steady_clock::time_point> last_report;
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseAwaitable);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
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
               " failed attempts; ", clients_.size(), " clients connected; file descriptor limit ",
               static_cast<std::uint64_t>(limit.rlim_cur),
               ", raise it with ulimit -n or LimitNOFILE=); new clients wait");
        failures = 0;
      }
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(kUseAwaitable);
      continue;
    }
    ++counters_.client_connections_total;
    metrics_->client_connections_total.Increment();
    boost::system::error_code pec;
    auto remote = socket.remote_endpoint(pec);
    std::string peer = pec ? std::string("?") : endpoint_text(remote);
    // With -threads > 1 the session lives on a reader thread: its socket moves to that
    // thread's io_context, and it talks to the rest of the proxy through on_data_plane().
    asio::any_io_executor executor = io_.get_executor();
    if (readers_) {
      executor = readers_->next();
      const auto protocol = listen_endpoint().protocol();  // accepted sockets share it
      boost::system::error_code rec;
      const auto handle = socket.release(rec);
      if (rec) {
        LB_LOG(kWarn, "client ", peer, ": cannot hand it to a reader thread: ", rec.message());
        continue;
      }
      socket = tcp::socket(executor, protocol, handle);
    }
    auto link = std::make_shared<ClientLink>(ClientLink{executor, nullptr});
    const std::uint64_t id = register_client(link);
    if (client_tls_) {
      co_spawn(executor,
               run_client_session(self,
                                  std::make_unique<TlsStream>(std::move(socket), *client_tls_,
                                                              TlsStream::Role::kServer),
                                  std::move(peer), std::move(link), id),
               log_if_thrown("client session"));
    } else {
      co_spawn(executor,
               run_client_session(self, std::move(socket), std::move(peer), std::move(link), id),
               log_if_thrown("client session"));
    }
  }
}

asio::awaitable<void> Proxy::signal_loop() {
  for (;;) {
    auto [ec, signal] = co_await signals_.async_wait(kUseAwaitable);
    if (ec) co_return;
    begin_shutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
}

void Proxy::begin_shutdown(std::string_view why) {
  if (shutting_down_) {
    LB_LOG(kError, "second ", why,
           ": exiting now; not delivered: ", queue_.lines() + unacked_lines_, " lines (",
           queue_.bytes() + unacked_bytes_, " bytes): ", queue_.lines(), " lines queued, ",
           unacked_lines_, " lines written but not acknowledged");
    std::_Exit(1);
  }
  shutting_down_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  LB_LOG(kInfo, why, ": stopped accepting; reading ", clients_.size(),
         " client(s) until they close or the drain timeout (",
         format_duration(options_.drain_timeout), ") passes");
  auto self = shared_from_this();
  co_spawn(
      io_, [self]() { return self->drain_timer_loop(); }, log_if_thrown("drain timer"));
  maybe_flush();
}

asio::awaitable<void> Proxy::drain_timer_loop() {
  drain_timer_.expires_after(options_.drain_timeout);
  auto [ec] = co_await drain_timer_.async_wait(kUseAwaitable);
  if (ec || flushing_) co_return;
  LB_LOG(kWarn, "drain timeout: closing ", clients_.size(), " client(s) still sending");
  clients_cut_ = true;
  for (auto& [id, link] : clients_) {
    // On the session's own thread: only there may its socket be touched.
    asio::post(link->executor, [link] {
      boost::system::error_code ignored;
      if (link->socket != nullptr) link->socket->cancel(ignored);
    });
  }
  clients_waiting_for_room_.notify_all();
}

std::uint64_t Proxy::register_client(std::shared_ptr<ClientLink> link) {
  std::uint64_t id = next_client_id_++;
  clients_.emplace(id, std::move(link));
  return id;
}

void Proxy::unregister_client(std::uint64_t id) {
  clients_.erase(id);
  maybe_flush();
}

void Proxy::maybe_flush() {
  if (!shutting_down_ || flushing_ || !clients_.empty()) return;
  flushing_ = true;
  drain_timer_.cancel();
  LB_LOG(kInfo, "all clients closed; delivering ", queue_.lines(), " queued and ", unacked_lines_,
         " unacknowledged lines");
  for (const auto& worker : workers_) worker->wake();
  auto self = shared_from_this();
  co_spawn(
      io_, [self]() { return self->progress_loop(); }, log_if_thrown("progress"));
}

asio::awaitable<void> Proxy::progress_loop() {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(kProgressInterval);
    co_await timer.async_wait(kUseAwaitable);
    if (workers_.empty()) co_return;
    LB_LOG(kInfo, "draining: ", queue_.lines(), " lines queued, ", unacked_lines_,
           " lines waiting for acknowledgement");
  }
}

void Proxy::trim_heap_when_idle() {
  // Under load glibc keeps freed batch memory for the next batches (see main.cc); once
  // everything received since the last trim is delivered, it goes back to the kernel.
  if (counters_.received_bytes == received_at_trim_ || !all_delivered()) return;
  received_at_trim_ = counters_.received_bytes;
  ::malloc_trim(0);
}

asio::awaitable<void> Proxy::metrics_loop() {
  for (;;) {
    publish_metrics();
    trim_heap_when_idle();
    metrics_timer_.expires_after(kMetricsInterval);
    auto [ec] = co_await metrics_timer_.async_wait(kUseAwaitable);
    if (ec) co_return;  // the proxy finished; it published a last time
  }
}

namespace {

std::size_t state_label(Worker::State state) {
  switch (state) {
    case Worker::State::kConnecting:
      return 0;
    case Worker::State::kConnected:
      return 1;
    case Worker::State::kBackoff:
      return 2;
    case Worker::State::kStopping:
      return 3;
  }
  return 0;
}

}  // namespace

void Proxy::publish_metrics() {
  Metrics& m = *metrics_;
  m.client_connections.Set(static_cast<double>(clients_.size()));
  m.queue_bytes.Set(static_cast<double>(queue_.bytes()));
  m.queue_lines.Set(static_cast<double>(queue_.lines()));
  m.queue_capacity_bytes.Set(static_cast<double>(queue_.capacity_bytes()));
  m.config_generation.Set(static_cast<double>(generation_));
  // Workers count under the target they are connected (or connecting) to, as in the status.
  for (const auto& t : targets_) {
    std::array<int, kWorkerStateLabels.size()> states{};
    std::uint64_t unacked = 0;
    for (const auto& w : workers_) {
      if (w->current_target() != t) continue;
      ++states[state_label(w->stopping() ? Worker::State::kStopping : w->state())];
      unacked += w->unacked_bytes();
    }
    t->metrics.up->Set(t->health.healthy() ? 1 : 0);
    t->metrics.unacked_bytes->Set(static_cast<double>(unacked));
    for (std::size_t i = 0; i < states.size(); ++i)
      t->metrics.worker_connections[i]->Set(states[i]);
  }
  m.batch_write_seconds.flush();
}

void Proxy::worker_exited(const Worker& worker) {
  std::erase_if(workers_, [&](const auto& w) { return w.get() == &worker; });
  status_changed();
  if (!flushing_ || !workers_.empty()) return;
  std::uint64_t sent = 0;
  for (const auto& t : targets_) sent += t->sent_lines;
  LB_LOG(kInfo, "shutdown complete: received ", counters_.received_lines, " lines, delivered ",
         sent, " (acknowledged by targets)");
  publish_metrics();
  metrics_timer_.cancel();
  signals_.cancel();
  io_.stop();
}

int Proxy::wanted_connections(const TargetState& target) const {
  return target.connections > 0 ? target.connections : default_connections_;
}

void Proxy::reconcile_workers(const std::shared_ptr<TargetState>& target) {
  std::vector<std::shared_ptr<Worker>> mine;
  for (const auto& w : workers_) {
    if (w->home() == target && !w->stopping()) mine.push_back(w);
  }
  const auto wanted = static_cast<std::size_t>(target->removed ? 0 : wanted_connections(*target));
  // Keep the lowest spread numbers so the names stay target#0..#N-1.
  std::sort(mine.begin(), mine.end(),
            [](const auto& a, const auto& b) { return a->spread() < b->spread(); });
  for (std::size_t i = wanted; i < mine.size(); ++i) mine[i]->stop();
  std::size_t spread = 0;
  for (std::size_t have = mine.size(); have < wanted; ++have) {
    auto taken = [&](std::size_t s) {
      return std::any_of(workers_.begin(), workers_.end(), [&](const auto& w) {
        return w->home() == target && w->spread() == s && !w->stopping();
      });
    };
    while (taken(spread)) ++spread;
    start_worker(target, spread);
  }
}

void Proxy::bump_generation() {
  ++generation_;
  status_changed();
}

std::shared_ptr<TargetState> Proxy::find_target(const TargetAddress& address) const {
  for (const auto& t : targets_) {
    if (t->address == address) return t;
  }
  return nullptr;
}

void Proxy::set_targets(const std::vector<TargetSpec>& specs,
                        std::optional<int> default_connections,
                        std::optional<std::chrono::milliseconds> failback_interval,
                        std::optional<std::string> config_version) {
  if (default_connections) default_connections_ = *default_connections;
  if (failback_interval) options_.failback_interval = *failback_interval;
  if (config_version) config_version_ = std::move(*config_version);
  std::vector<std::shared_ptr<TargetState>> next;
  for (const TargetSpec& spec : specs) {
    auto existing = find_target(spec.address);
    if (existing) {
      existing->connections = spec.connections;
      next.push_back(existing);
    } else {
      next.push_back(make_target(spec));
    }
  }
  for (const auto& old : targets_) {
    if (std::find(next.begin(), next.end(), old) == next.end()) {
      old->removed = true;
      metrics_->remove_target(old->metrics);
      LB_LOG(kInfo, "target ", old->name, " removed");
    }
  }
  std::vector<std::shared_ptr<TargetState>> before = std::move(targets_);
  targets_ = std::move(next);
  for (const auto& t : before) {
    if (t->removed) reconcile_workers(t);
  }
  for (const auto& t : targets_) reconcile_workers(t);
  // Workers on a removed target notice at their next loop; wake the idle ones.
  for (const auto& w : workers_) w->wake();
  bump_generation();
}

void Proxy::add_target(const TargetSpec& spec) {
  auto target = make_target(spec);
  targets_.push_back(target);
  LB_LOG(kInfo, "target ", target->name, " added");
  reconcile_workers(target);
  bump_generation();
}

void Proxy::remove_target(const std::shared_ptr<TargetState>& target) {
  std::vector<TargetSpec> rest;
  for (const auto& t : targets_) {
    if (t != target) rest.push_back(TargetSpec{t->address, t->connections});
  }
  set_targets(rest, std::nullopt, std::nullopt, std::nullopt);
}

void Proxy::set_connections(int connections, const std::shared_ptr<TargetState>& target) {
  if (target) {
    target->connections = connections;
    reconcile_workers(target);
  } else {
    default_connections_ = connections;
    for (const auto& t : targets_) {
      t->connections = 0;
      reconcile_workers(t);
    }
  }
  bump_generation();
}

void Proxy::trigger_failback(const std::shared_ptr<TargetState>& target) {
  for (const auto& w : workers_) {
    if ((!target || w->home() == target) && w->current_target() != w->home()) {
      w->trigger_failback();
    }
  }
  status_changed();  // an action, not a configuration change: the generation stays
}

void Proxy::enqueue(Batch batch) {
  counters_.received_lines += batch.lines();
  counters_.received_bytes += batch.size();
  metrics_->received_lines.Increment(static_cast<double>(batch.lines()));
  metrics_->received_bytes.Increment(static_cast<double>(batch.size()));
  queue_.push_back(std::move(batch));
  idle_workers_.notify(1);
}

namespace {

std::size_t total_bytes(const std::vector<Batch>& batches) {
  std::size_t bytes = 0;
  for (const Batch& b : batches) bytes += b.size();
  return bytes;
}

}  // namespace

void Proxy::requeue(std::vector<Batch> batches) {
  const std::size_t n = batches.size();
  admitted_bytes_.fetch_add(total_bytes(batches), std::memory_order_relaxed);
  queue_.push_front(std::move(batches));
  idle_workers_.notify(n);
}

std::vector<Batch> Proxy::dequeue(std::size_t max_bytes) {
  std::vector<Batch> batches = queue_.pop(max_bytes);
  admitted_bytes_.fetch_sub(total_bytes(batches), std::memory_order_relaxed);
  if (clients_waiting_for_room_.size() > 0 && !queue_.full()) {
    // Wake only as many readers as the free room can take, so the overshoot stays bounded.
    const std::size_t room = queue_.capacity_bytes() - queue_.bytes();
    clients_waiting_for_room_.notify(room / options_.read_buffer_bytes + 1);
  }
  return batches;
}

}  // namespace jsontcplb
