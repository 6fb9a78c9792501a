#include "dataplane/data_plane.h"

#include <malloc.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/context.hpp>

#include "dataplane/client_registry.h"
#include "dataplane/client_session.h"
#include "dataplane/core/log.h"
#include "dataplane/core/log_limiter.h"
#include "dataplane/coro.h"
#include "dataplane/endpoint_text.h"
#include "dataplane/lifecycle.h"
#include "dataplane/line_queue.h"
#include "dataplane/listener.h"
#include "dataplane/stats.h"
#include "dataplane/target_set.h"
#include "dataplane/tls_context.h"
#include "dataplane/upstream.h"

namespace jsontcplb {
namespace {

// How often gauges and the write-time histogram are published (a scrape sees values at most
// this old; Prometheus scrapes every 15 s by default).
constexpr std::chrono::seconds kPublishInterval(1);

// Upstream::connect with the flags' settings; the TLS context lives as long as the dialer.
Dialer make_dialer(const Options& o, std::shared_ptr<asio::ssl::context> tls) {
  Upstream::ConnectSettings settings{
      .timeout = o.connect_timeout,
      .tls = tls.get(),
      .verify_host = !o.tls_target_skip_verify,
      .user_timeout_ms = static_cast<unsigned>(o.tcp_user_timeout.count()),
  };
  return [settings, tls = std::move(tls)](const TargetAddress& target) {
    return Upstream::connect(target, settings);
  };
}

}  // namespace

DataPlane::DataPlane(asio::io_context& io, const Options& options, std::shared_ptr<Stats> stats)
    : io_(io),
      options_(options),
      stats_(std::move(stats)),
      queue_(std::make_shared<LineQueue>(io.get_executor(), options.queue_bytes,
                                         options.read_buffer_bytes)),
      clients_(std::make_shared<ClientRegistry>()),
      // A few hundred sensors reconnecting after a network blip are logged one by one; a loop
      // of thousands of connects per second becomes one line per 10 s.
      client_events_(
          std::make_shared<LogLimiter>("client connection events", 100, std::chrono::seconds(10))),
      publish_timer_(io) {}

DataPlane::~DataPlane() = default;

absl::StatusOr<std::shared_ptr<DataPlane>> DataPlane::create(asio::io_context& io,
                                                             const Options& options,
                                                             std::shared_ptr<Stats> stats) {
  auto dp = std::make_shared<DataPlane>(io, options, std::move(stats));
  auto listener = Listener::create(
      io, options,
      std::make_shared<const SessionEnv>(
          SessionEnv{dp->queue_, dp->stats_, dp->clients_, options.read_buffer_bytes,
                     options.max_line_bytes, options.client_idle_timeout, dp->client_events_}));
  if (!listener.ok()) return listener.status();
  dp->listener_ = *std::move(listener);

  std::shared_ptr<asio::ssl::context> target_tls;
  if (options.tls_target) {
    auto tls = make_target_tls(options);
    if (!tls.ok()) return tls.status();
    target_tls = *std::move(tls);
  }
  WorkerEnv env;  // its live part comes from the config
  env.queue = dp->queue_;
  env.stats = dp->stats_;
  env.dial = make_dialer(options, std::move(target_tls));
  env.max_unacked_bytes = options.max_unacked_bytes;
  env.max_retained_bytes = options.max_retained_bytes;
  env.assume_unread_bytes = options.assume_unread_bytes;
  env.write_timeout = options.write_timeout;
  env.exact_offsets = !options.tls_target;
  dp->targets_ = std::make_shared<TargetSet>(io.get_executor(), LiveConfig::from_options(options),
                                             std::move(env), options.limits);
  dp->lifecycle_ = std::make_shared<Lifecycle>(
      io, options.drain_timeout,
      Lifecycle::Parts{dp->listener_, dp->clients_, dp->queue_, dp->targets_, dp->stats_});
  return dp;
}

tcp::endpoint DataPlane::listen_endpoint() const { return listener_->endpoint(); }

void DataPlane::start() {
  const LiveConfig& config = targets_->config();
  std::string names;
  for (const TargetSpec& t : config.targets) {
    str_append(names, names.empty() ? "" : ", ", t.address.to_string());
  }
  LB_LOG(kInfo, "json-tcp-lb listening on ", endpoint_text(listen_endpoint()),
         listener_->tls() ? " (TLS)" : "", "; ", config.targets.size(), " target(s) x ",
         config.connections, " connections", options_.tls_target ? " (TLS)" : "", ": ", names);
  lifecycle_->on_exit([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->publish_metrics();
      self->publish_timer_.cancel();
    }
  });
  targets_->start();
  listener_->start();
  lifecycle_->start();
  co_spawn(
      io_, [self = shared_from_this()] { return self->publish_loop(); }, log_if_thrown("metrics"));
}

Snapshot DataPlane::snapshot() const {
  Snapshot s;
  s.uptime = std::chrono::steady_clock::now() - started_at_;
  s.draining = lifecycle_->shutting_down();
  targets_->fill(s);
  s.queue_bytes = queue_->bytes();
  s.queue_lines = queue_->lines();
  s.queue_capacity_bytes = queue_->capacity_bytes();
  s.unacked_bytes = queue_->unacked_bytes();
  s.retained_bytes = queue_->retained_bytes();
  s.client_connections = static_cast<std::uint32_t>(clients_->size());
  s.totals = stats_->totals();
  return s;
}

const LiveConfig& DataPlane::config() const { return targets_->config(); }

absl::StatusOr<std::uint64_t> DataPlane::change(std::optional<std::uint64_t> expected,
                                                const Edit& edit) {
  // A stale caller hears so first: its edit was made against a config it no longer sees.
  if (auto status = targets_->check_generation(expected); !status.ok()) return status;
  auto next = edit(targets_->config());
  if (!next.ok()) return next.status();
  return targets_->apply(*std::move(next), expected);
}

absl::Status DataPlane::trigger_failback(const std::optional<TargetAddress>& home) {
  return targets_->trigger_failback(home);
}

void DataPlane::drain(std::string_view why) { lifecycle_->begin_shutdown(why); }

void DataPlane::on_drain(std::function<void()> callback) {
  lifecycle_->on_drain(std::move(callback));
}

void DataPlane::publish_metrics() { stats_->publish(snapshot()); }

void DataPlane::trim_heap_when_idle() {
  // Under load glibc keeps freed batch memory for the next batches (see main.cc); once
  // everything received since the last trim is delivered, it goes back to the kernel.
  const std::uint64_t received = stats_->totals().received_bytes;
  if (received == received_at_trim_ || !queue_->all_delivered()) return;
  received_at_trim_ = received;
  ::malloc_trim(0);
}

asio::awaitable<void> DataPlane::publish_loop() {
  auto self = shared_from_this();
  for (;;) {
    publish_metrics();
    trim_heap_when_idle();
    const auto now = std::chrono::steady_clock::now();
    if (auto summary = client_events_->flush(now)) LB_LOG(kInfo, *summary);
    targets_->log_down_targets(now);
    publish_timer_.expires_after(kPublishInterval);
    auto [ec] = co_await publish_timer_.async_wait(kUseAwaitable);
    if (ec) co_return;  // the data plane finished; it published a last time
  }
}

}  // namespace jsontcplb
