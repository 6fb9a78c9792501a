#include "dataplane/control_server.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/log.h"
#include "dataplane/core/options.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/version.h"
#include "dataplane/coro.h"
#include "dataplane/data_plane.h"
#include "dataplane/grpc_common.h"
#include "dataplane/stats.h"
#include "jsontcplb/v1/control.grpc.pb.h"

namespace jsontcplb {
namespace {

namespace asio = boost::asio;
namespace v1 = jsontcplb::v1;
using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;

constexpr milliseconds kDefaultWatchInterval(1000);
constexpr milliseconds kMinWatchInterval(100);
// Status watch streams open at once (lbctl watch, control planes, dashboards): a few per
// client is normal; the bound keeps a flood of them from costing the data-plane thread.
constexpr int kMaxWatchStreams = 64;

grpc::Status invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

v1::WorkerStatus::State to_proto(WorkerState state) {
  switch (state) {
    case WorkerState::kConnecting:
      return v1::WorkerStatus::CONNECTING;
    case WorkerState::kConnected:
      return v1::WorkerStatus::CONNECTED;
    case WorkerState::kBackoff:
      return v1::WorkerStatus::BACKOFF;
    case WorkerState::kStopping:
      return v1::WorkerStatus::STOPPING;
  }
  return v1::WorkerStatus::STATE_UNSPECIFIED;
}

void fill_status(const Snapshot& s, v1::Status& out) {
  out.Clear();
  out.set_version(kVersion);
  *out.mutable_uptime() = TimeUtil::NanosecondsToDuration(s.uptime.count());
  out.set_generation(s.generation);
  out.set_config_version(s.config_version);
  out.set_draining(s.draining);
  for (const TargetSnapshot& t : s.targets) {
    v1::TargetStatus& ts = *out.add_targets();
    ts.set_address(t.address);
    ts.set_connections_wanted(t.connections_wanted);
    ts.set_connections_connected(t.connections_connected);
    ts.set_health(t.healthy ? v1::TargetStatus::HEALTHY : v1::TargetStatus::UNHEALTHY);
    ts.set_sent_lines(t.sent_lines);
    ts.set_sent_bytes(t.sent_bytes);
    ts.set_resent_lines(t.resent_lines);
    ts.set_unacked_bytes(t.unacked_bytes);
    ts.set_resent_unacked_lines(t.resent_unacked_lines);
    ts.set_resent_maybe_unread_lines(t.resent_maybe_unread_lines);
    ts.set_retained_bytes(t.retained_bytes);
  }
  for (const WorkerSnapshot& w : s.workers) {
    v1::WorkerStatus& ws = *out.add_workers();
    ws.set_name(w.name);
    ws.set_home_target(w.home_target);
    ws.set_current_target(w.current_target);
    ws.set_state(to_proto(w.state));
    ws.set_unacked_bytes(w.unacked_bytes);
    ws.set_retained_bytes(w.retained_bytes);
  }
  out.set_queue_bytes(s.queue_bytes);
  out.set_queue_lines(s.queue_lines);
  out.set_queue_capacity_bytes(s.queue_capacity_bytes);
  out.set_unacked_bytes(s.unacked_bytes);
  out.set_retained_bytes(s.retained_bytes);
  out.set_client_connections(s.client_connections);
  out.set_default_connections(s.default_connections);
  *out.mutable_failback_interval() = TimeUtil::MillisecondsToDuration(s.failback_interval.count());
  const Totals& t = s.totals;
  v1::Totals& totals = *out.mutable_totals();
  totals.set_client_connections(t.client_connections);
  totals.set_received_lines(t.received_lines);
  totals.set_received_bytes(t.received_bytes);
  totals.set_sent_lines(t.sent_lines);
  totals.set_sent_bytes(t.sent_bytes);
  totals.set_resent_lines(t.resent_lines);
  totals.set_resent_unacked_lines(t.resent_unacked_lines);
  totals.set_resent_maybe_unread_lines(t.resent_maybe_unread_lines);
  totals.set_retention_overflow_lines(t.retention_overflow_lines);
  totals.set_rejected_long_lines(t.rejected_long_lines);
  totals.set_failovers(t.failovers);
  totals.set_failbacks(t.failbacks);
  totals.set_reconnects(t.reconnects);
  totals.set_discarded_target_bytes(t.discarded_target_bytes);
}

std::variant<TargetAddress, grpc::Status> parse_address(const std::string& text,
                                                        std::string_view field) {
  auto parsed = parse_target_address(text);
  if (auto* e = std::get_if<std::string>(&parsed)) return invalid(str_cat(field, ": ", *e));
  return std::get<TargetAddress>(parsed);
}

std::optional<std::uint64_t> expected_generation(bool has, std::uint64_t value) {
  return has ? std::optional<std::uint64_t>(value) : std::nullopt;
}

// State of one WatchStatus stream shared by the reactor (gRPC threads) and the coroutine that
// feeds it (data-plane thread). Touched only on the data-plane thread; gRPC callbacks post.
struct WatchState {
  explicit WatchState(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  v1::Status message;
  bool write_done = false;
  bool write_ok = true;
  bool cancelled = false;
};

class StatusWatch final : public grpc::ServerWriteReactor<v1::Status> {
 public:
  /// `open` counts the streams; this one is already counted and uncounts itself when done.
  StatusWatch(asio::io_context& io, std::shared_ptr<DataPlane> data_plane, milliseconds interval,
              std::atomic<int>& open)
      : io_(io), open_(open), state_(std::make_shared<WatchState>(io)) {
    asio::co_spawn(io, feed(this, state_, std::move(data_plane), interval),
                   log_if_thrown("status watch"));
  }
  void OnWriteDone(bool ok) override {
    asio::post(io_, [state = state_, ok] {
      state->write_done = true;
      state->write_ok = ok;
      state->timer.cancel();
    });
  }
  void OnCancel() override {
    asio::post(io_, [state = state_] {
      state->cancelled = true;
      state->timer.cancel();
    });
  }
  void OnDone() override {
    // Drop our reference on the data-plane thread, where the timer lives.
    asio::post(io_, [state = std::move(state_)] {});
    open_.fetch_sub(1);
    delete this;
  }

 private:
  static asio::awaitable<void> feed(StatusWatch* self, std::shared_ptr<WatchState> state,
                                    std::shared_ptr<DataPlane> data_plane, milliseconds interval) {
    Stats& stats = data_plane->stats();
    for (;;) {
      // When the process is about to exit, one last status (draining, totals) ends the stream.
      const bool last = stats.watchers_closed();
      const std::uint64_t changes = stats.changes();
      fill_status(data_plane->snapshot(), state->message);
      state->write_done = false;
      self->StartWrite(&state->message);
      while (!state->write_done && !state->cancelled) {
        state->timer.expires_at(asio::steady_timer::time_point::max());
        co_await state->timer.async_wait(kUseAwaitable);
      }
      if (state->cancelled || !state->write_ok || last) break;
      // At most one update per kMinWatchInterval, at least one per interval.
      state->timer.expires_after(kMinWatchInterval);
      co_await state->timer.async_wait(kUseAwaitable);
      if (state->cancelled) break;
      // A change that came while this stream was writing or pausing is sent at once.
      if (!stats.watchers_closed() && stats.changes() == changes) {
        co_await stats.watchers().wait(state->timer, interval - kMinWatchInterval);
      }
      if (state->cancelled) break;
    }
    // A write may still be under way only if we were cancelled; Finish is allowed then too.
    self->Finish(state->cancelled ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  asio::io_context& io_;
  std::atomic<int>& open_;
  std::shared_ptr<WatchState> state_;
};

// A reactor that ends the stream at once with `status`.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::Status> {
 public:
  explicit RefusedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

class ControlService final : public v1::DataPlaneControl::CallbackService {
 public:
  ControlService(asio::io_context& io, std::shared_ptr<DataPlane> data_plane, std::string token)
      : io_(io), data_plane_(std::move(data_plane)), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx, const v1::GetStatusRequest*,
                                      v1::Status* out) override {
    return on_data_plane(ctx, [out](DataPlane& dp) {
      fill_status(dp.snapshot(), *out);
      return grpc::Status::OK;
    });
  }

  grpc::ServerWriteReactor<v1::Status>* WatchStatus(grpc::CallbackServerContext* ctx,
                                                    const v1::WatchStatusRequest* req) override {
    milliseconds interval = kDefaultWatchInterval;
    if (req->has_interval()) {
      interval = std::max(kMinWatchInterval,
                          milliseconds(TimeUtil::DurationToMilliseconds(req->interval())));
    }
    if (auto denied = authorize(ctx)) return new RefusedWatch(*denied);
    // Each stream costs a coroutine and a status message on the data-plane thread.
    if (open_watches_.fetch_add(1) >= kMaxWatchStreams) {
      open_watches_.fetch_sub(1);
      return new RefusedWatch(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       str_cat("too many status watch streams: ", kMaxWatchStreams,
                               " are open, the most this data plane serves at once")));
    }
    return new StatusWatch(io_, data_plane_, interval, open_watches_);
  }

  grpc::ServerUnaryReactor* SetTargets(grpc::CallbackServerContext* ctx,
                                       const v1::SetTargetsRequest* req,
                                       v1::ChangeResponse* out) override {
    const v1::DataPlaneConfig& config = req->config();
    std::vector<RequestedTarget> requested;
    for (const v1::Target& t : config.targets()) {
      requested.push_back({t.address(), t.connections()});
    }
    auto targets = parse_targets(requested, "config.targets");
    if (!targets.ok()) return refuse(ctx, to_grpc(targets.status()));
    // Unset fields keep the current value; config_version always replaces it.
    std::optional<std::uint32_t> connections;
    if (config.connections() != 0) connections = config.connections();
    std::optional<milliseconds> failback;
    if (config.has_failback_interval()) {
      failback = milliseconds(TimeUtil::DurationToMilliseconds(config.failback_interval()));
    }
    return change(
        ctx, expected_generation(req->has_expected_generation(), req->expected_generation()), out,
        [targets = *std::move(targets), connections, failback, version = config.config_version()](
            const LiveConfig& current) -> absl::StatusOr<LiveConfig> {
          LiveConfig next = current;
          next.targets = targets;
          if (connections) next.connections = *connections;
          if (failback) next.failback_interval = *failback;
          next.config_version = version;
          if (auto status = validate(next, "config."); !status.ok()) return status;
          return next;
        });
  }

  grpc::ServerUnaryReactor* AddTarget(grpc::CallbackServerContext* ctx,
                                      const v1::AddTargetRequest* req,
                                      v1::ChangeResponse* out) override {
    auto parsed = parse_address(req->target().address(), "target.address");
    if (auto* e = std::get_if<grpc::Status>(&parsed)) return refuse(ctx, *e);
    TargetSpec target{std::get<TargetAddress>(parsed), req->target().connections()};
    return change(
        ctx, expected_generation(req->has_expected_generation(), req->expected_generation()), out,
        [target](const LiveConfig& current) { return with_target_added(current, target); });
  }

  grpc::ServerUnaryReactor* RemoveTarget(grpc::CallbackServerContext* ctx,
                                         const v1::RemoveTargetRequest* req,
                                         v1::ChangeResponse* out) override {
    auto parsed = parse_address(req->address(), "address");
    if (auto* e = std::get_if<grpc::Status>(&parsed)) return refuse(ctx, *e);
    TargetAddress address = std::get<TargetAddress>(parsed);
    return change(
        ctx, expected_generation(req->has_expected_generation(), req->expected_generation()), out,
        [address](const LiveConfig& current) { return with_target_removed(current, address); });
  }

  grpc::ServerUnaryReactor* SetConnections(grpc::CallbackServerContext* ctx,
                                           const v1::SetConnectionsRequest* req,
                                           v1::ChangeResponse* out) override {
    if (auto e = validate_connections(req->connections(), "connections")) {
      return refuse(ctx, invalid(*e));
    }
    auto only = optional_address(req->target());
    if (auto* e = std::get_if<grpc::Status>(&only)) return refuse(ctx, *e);
    return change(
        ctx, expected_generation(req->has_expected_generation(), req->expected_generation()), out,
        [target = std::get<std::optional<TargetAddress>>(only), connections = req->connections()](
            const LiveConfig& current) { return with_connections(current, connections, target); });
  }

  grpc::ServerUnaryReactor* TriggerFailback(grpc::CallbackServerContext* ctx,
                                            const v1::TriggerFailbackRequest* req,
                                            v1::ChangeResponse* out) override {
    auto only = optional_address(req->target());
    if (auto* e = std::get_if<grpc::Status>(&only)) return refuse(ctx, *e);
    return on_data_plane(ctx,
                         [home = std::get<std::optional<TargetAddress>>(only), out](DataPlane& dp) {
                           if (auto status = dp.trigger_failback(home); !status.ok())
                             return to_grpc(status);
                           // An action, not a configuration change: the generation stays.
                           out->set_generation(dp.snapshot().generation);
                           out->set_message("failed-over workers are dialing their home targets");
                           return grpc::Status::OK;
                         });
  }

  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* ctx, const v1::DrainRequest*,
                                  v1::ChangeResponse* out) override {
    return on_data_plane(ctx, [out](DataPlane& dp) {
      dp.drain("drain requested over the control API");
      out->set_generation(dp.snapshot().generation);
      out->set_message("draining: no new clients; exits once everything is delivered");
      return grpc::Status::OK;
    });
  }

 private:
  // An empty `text` means every target.
  static std::variant<std::optional<TargetAddress>, grpc::Status> optional_address(
      const std::string& text) {
    if (text.empty()) return std::optional<TargetAddress>();
    auto parsed = parse_address(text, "target");
    if (auto* e = std::get_if<grpc::Status>(&parsed)) return *e;
    return std::optional<TargetAddress>(std::get<TargetAddress>(parsed));
  }

  std::optional<grpc::Status> authorize(grpc::CallbackServerContext* ctx) const {
    return check_bearer_token(*ctx, token_);
  }

  grpc::ServerUnaryReactor* refuse(grpc::CallbackServerContext* ctx, grpc::Status status) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  // Runs `work` on the data-plane thread and finishes the call with its result.
  template <typename Work>
  grpc::ServerUnaryReactor* on_data_plane(grpc::CallbackServerContext* ctx, Work work) {
    if (auto denied = authorize(ctx)) return refuse(ctx, *denied);
    auto* reactor = ctx->DefaultReactor();
    asio::post(io_, [reactor, dp = data_plane_, work = std::move(work)]() mutable {
      reactor->Finish(work(*dp));
    });
    return reactor;
  }

  // A configuration change: compare-and-set, edit, validate, apply and bump, in one place.
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* ctx,
                                   std::optional<std::uint64_t> expected, v1::ChangeResponse* out,
                                   DataPlane::Edit edit) {
    return on_data_plane(ctx, [=, edit = std::move(edit)](DataPlane& dp) {
      auto generation = dp.change(expected, edit);
      if (!generation.ok()) return to_grpc(generation.status());
      out->set_generation(*generation);
      LB_LOG(kInfo, "control: configuration changed; generation ", *generation);
      return grpc::Status::OK;
    });
  }

  asio::io_context& io_;
  std::shared_ptr<DataPlane> data_plane_;
  std::string token_;
  std::atomic<int> open_watches_ = 0;
};

ControlServer::~ControlServer() = default;

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::start(
    const Options& options, asio::io_context& io, std::shared_ptr<DataPlane> data_plane) {
  auto security = load_server_security(options.control);
  if (!security.ok()) return security.status();
  std::unique_ptr<ControlServer> server(new ControlServer());
  DataPlane& plane = *data_plane;
  server->service_ =
      std::make_unique<ControlService>(io, std::move(data_plane), std::move(security->token));
  auto started = start_grpc_server(options.control, *security, *server->service_, "control API");
  if (!started.ok()) return started.status();
  server->server_ = std::move(started->server);
  server->port_ = started->port;
  // A draining data plane takes no new clients: readiness probes (grpc.health.v1, which needs
  // no token) see NOT_SERVING, so Kubernetes stops sending it any.
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  if (health != nullptr) {
    plane.on_drain([health] { health->SetServingStatus(false); });
  }
  return server;
}

void ControlServer::shutdown(asio::io_context& io, DataPlane& data_plane) {
  // Watch streams send a last status and end with OK rather than being cancelled.
  asio::post(io, [&data_plane] { data_plane.stats().close_watchers(); });
  shutdown_grpc_server(*server_, io);
}

}  // namespace jsontcplb
