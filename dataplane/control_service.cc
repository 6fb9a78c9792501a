#include "dataplane/control_service.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/proxy.h"
#include "dataplane/spawn.h"
#include "dataplane/worker.h"
#include "jsontcplb/v1/control.grpc.pb.h"

namespace jsontcplb {
namespace {

namespace asio = boost::asio;
namespace v1 = jsontcplb::v1;
using std::chrono::milliseconds;

constexpr milliseconds kDefaultWatchInterval(1000);
constexpr milliseconds kMinWatchInterval(100);
constexpr milliseconds kMinFailbackInterval(10);

grpc::Status invalid(std::string message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
}

void set_duration(google::protobuf::Duration& out, std::chrono::nanoseconds d) {
  out.set_seconds(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  out.set_nanos(static_cast<std::int32_t>(d.count() % 1'000'000'000));
}

milliseconds to_millis(const google::protobuf::Duration& d) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::seconds(d.seconds()) +
                                                  std::chrono::nanoseconds(d.nanos()));
}

v1::WorkerStatus::State to_proto(Worker::State state) {
  switch (state) {
    case Worker::State::kConnecting:
      return v1::WorkerStatus::CONNECTING;
    case Worker::State::kConnected:
      return v1::WorkerStatus::CONNECTED;
    case Worker::State::kBackoff:
      return v1::WorkerStatus::BACKOFF;
    case Worker::State::kStopping:
      return v1::WorkerStatus::STOPPING;
  }
  return v1::WorkerStatus::STATE_UNSPECIFIED;
}

// Runs on the data-plane thread.
void fill_status(const Proxy& proxy, v1::Status& out) {
  out.Clear();
  out.set_version(LB_VERSION);
  set_duration(*out.mutable_uptime(), std::chrono::steady_clock::now() - proxy.started_at());
  out.set_generation(proxy.generation());
  out.set_config_version(proxy.config_version());
  out.set_draining(proxy.shutting_down());
  const Counters& c = proxy.counters();
  v1::Totals& totals = *out.mutable_totals();
  for (const auto& t : proxy.targets()) {
    v1::TargetStatus& ts = *out.add_targets();
    ts.set_address(t->name);
    ts.set_connections_wanted(static_cast<std::uint32_t>(proxy.wanted_connections(*t)));
    ts.set_connections_connected(static_cast<std::uint32_t>(t->connected_workers));
    ts.set_health(t->health.healthy() ? v1::TargetStatus::HEALTHY : v1::TargetStatus::UNHEALTHY);
    ts.set_sent_lines(t->sent_lines);
    ts.set_sent_bytes(t->sent_bytes);
    ts.set_resent_lines(t->resent_lines);
    for (const auto& w : proxy.workers()) {
      if (w->current_target() == t) ts.set_unacked_bytes(ts.unacked_bytes() + w->unacked_bytes());
    }
    totals.set_sent_lines(totals.sent_lines() + t->sent_lines);
    totals.set_sent_bytes(totals.sent_bytes() + t->sent_bytes);
    totals.set_resent_lines(totals.resent_lines() + t->resent_lines);
  }
  for (const auto& w : proxy.workers()) {
    v1::WorkerStatus& ws = *out.add_workers();
    ws.set_name(w->name());
    ws.set_home_target(w->home()->name);
    if (w->current_target()) ws.set_current_target(w->current_target()->name);
    ws.set_state(to_proto(w->stopping() ? Worker::State::kStopping : w->state()));
    ws.set_unacked_bytes(w->unacked_bytes());
  }
  out.set_queue_bytes(proxy.queue().bytes());
  out.set_queue_lines(proxy.queue().lines());
  out.set_queue_capacity_bytes(proxy.queue().capacity_bytes());
  out.set_unacked_bytes(proxy.unacked_total_bytes());
  out.set_client_connections(static_cast<std::uint32_t>(proxy.client_count()));
  out.set_default_connections(static_cast<std::uint32_t>(proxy.default_connections()));
  set_duration(*out.mutable_failback_interval(), proxy.options().failback_interval);
  totals.set_client_connections(c.client_connections_total);
  totals.set_received_lines(c.received_lines);
  totals.set_received_bytes(c.received_bytes);
  totals.set_rejected_long_lines(c.rejected_long_lines);
  totals.set_failovers(c.failovers);
  totals.set_failbacks(c.failbacks);
  totals.set_reconnects(c.reconnects);
  totals.set_discarded_target_bytes(c.discarded_upstream_bytes);
}

// Compare-and-set: on the data-plane thread, right before applying.
std::optional<grpc::Status> stale(const Proxy& proxy, bool has_expected, std::uint64_t expected) {
  if (!has_expected || expected == proxy.generation()) return std::nullopt;
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      str_cat("expected_generation ", expected, " does not match the current ",
                              "generation ", proxy.generation(), "; re-read the status and retry"));
}

std::variant<TargetAddress, grpc::Status> parse_address(const std::string& text,
                                                        std::string_view field) {
  auto parsed = parse_target_address(text);
  if (auto* e = std::get_if<std::string>(&parsed)) return invalid(str_cat(field, ": ", *e));
  return std::get<TargetAddress>(parsed);
}

std::string read_token(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string token = buffer.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  std::size_t start = 0;
  while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) ++start;
  return token.substr(start);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Equal-time comparison so the token cannot be guessed byte by byte from response times.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
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
  StatusWatch(asio::io_context& io, std::shared_ptr<Proxy> proxy, milliseconds interval)
      : io_(io), state_(std::make_shared<WatchState>(io)) {
    asio::co_spawn(io, feed(this, state_, std::move(proxy), interval),
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
    delete this;
  }

 private:
  static asio::awaitable<void> feed(StatusWatch* self, std::shared_ptr<WatchState> state,
                                    std::shared_ptr<Proxy> proxy, milliseconds interval) {
    constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
    for (;;) {
      // When the process is about to exit, one last status (draining, totals) ends the stream.
      const bool last = proxy->status_closed();
      fill_status(*proxy, state->message);
      state->write_done = false;
      self->StartWrite(&state->message);
      while (!state->write_done && !state->cancelled) {
        state->timer.expires_at(asio::steady_timer::time_point::max());
        co_await state->timer.async_wait(kUse);
      }
      if (state->cancelled || !state->write_ok || last) break;
      // At most one update per kMinWatchInterval, at least one per interval.
      state->timer.expires_after(kMinWatchInterval);
      co_await state->timer.async_wait(kUse);
      if (state->cancelled) break;
      if (!proxy->status_closed()) {
        co_await proxy->status_watchers().wait(state->timer, interval - kMinWatchInterval);
      }
      if (state->cancelled) break;
    }
    // A write may still be under way only if we were cancelled; Finish is allowed then too.
    self->Finish(state->cancelled ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  asio::io_context& io_;
  std::shared_ptr<WatchState> state_;
};

}  // namespace

class ControlService final : public v1::DataPlaneControl::CallbackService {
 public:
  ControlService(asio::io_context& io, std::shared_ptr<Proxy> proxy, std::string token)
      : io_(io), proxy_(std::move(proxy)), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx, const v1::GetStatusRequest*,
                                      v1::Status* out) override {
    return on_data_plane(ctx, [out](Proxy& proxy) {
      fill_status(proxy, *out);
      return grpc::Status::OK;
    });
  }

  grpc::ServerWriteReactor<v1::Status>* WatchStatus(grpc::CallbackServerContext* ctx,
                                                    const v1::WatchStatusRequest* req) override {
    milliseconds interval = kDefaultWatchInterval;
    if (req->has_interval()) interval = std::max(kMinWatchInterval, to_millis(req->interval()));
    if (auto denied = authorize(ctx)) {
      class Refused : public grpc::ServerWriteReactor<v1::Status> {
       public:
        explicit Refused(grpc::Status s) { Finish(std::move(s)); }
        void OnDone() override { delete this; }
      };
      return new Refused(*denied);
    }
    return new StatusWatch(io_, proxy_, interval);
  }

  grpc::ServerUnaryReactor* SetTargets(grpc::CallbackServerContext* ctx,
                                       const v1::SetTargetsRequest* req,
                                       v1::ChangeResponse* out) override {
    const v1::DataPlaneConfig& config = req->config();
    std::vector<RequestedTarget> requested;
    for (const v1::Target& t : config.targets())
      requested.push_back({t.address(), t.connections()});
    auto valid = validate_targets(requested, "config.targets");
    if (auto* e = std::get_if<std::string>(&valid)) return refuse(ctx, invalid(*e));
    std::optional<int> connections;
    if (config.connections() != 0) {
      if (auto e = validate_connections(config.connections(), "config.connections")) {
        return refuse(ctx, invalid(*e));
      }
      connections = static_cast<int>(config.connections());
    }
    std::optional<milliseconds> failback;
    if (config.has_failback_interval()) {
      failback = to_millis(config.failback_interval());
      if (*failback < kMinFailbackInterval) {
        return refuse(ctx, invalid(str_cat("config.failback_interval: ", failback->count(),
                                           "ms is too short; at least 10ms")));
      }
    }
    std::vector<Proxy::TargetSpec> specs;
    for (auto& t : std::get<std::vector<ValidTarget>>(valid)) {
      specs.push_back({std::move(t.address), t.connections});
    }
    return change(ctx, req->has_expected_generation(), req->expected_generation(), out,
                  [specs = std::move(specs), connections, failback,
                   version = config.config_version()](Proxy& proxy) -> std::optional<grpc::Status> {
                    proxy.set_targets(specs, connections, failback, version);
                    return std::nullopt;
                  });
  }

  grpc::ServerUnaryReactor* AddTarget(grpc::CallbackServerContext* ctx,
                                      const v1::AddTargetRequest* req,
                                      v1::ChangeResponse* out) override {
    auto valid =
        validate_targets({{req->target().address(), req->target().connections()}}, "target");
    if (auto* e = std::get_if<std::string>(&valid)) return refuse(ctx, invalid(*e));
    ValidTarget target = std::get<std::vector<ValidTarget>>(valid).front();
    return change(ctx, req->has_expected_generation(), req->expected_generation(), out,
                  [target](Proxy& proxy) -> std::optional<grpc::Status> {
                    if (proxy.find_target(target.address)) {
                      return invalid(str_cat("target.address: \"", target.address.to_string(),
                                             "\" is already a target"));
                    }
                    proxy.add_target({target.address, target.connections});
                    return std::nullopt;
                  });
  }

  grpc::ServerUnaryReactor* RemoveTarget(grpc::CallbackServerContext* ctx,
                                         const v1::RemoveTargetRequest* req,
                                         v1::ChangeResponse* out) override {
    auto parsed = parse_address(req->address(), "address");
    if (auto* e = std::get_if<grpc::Status>(&parsed)) return refuse(ctx, *e);
    TargetAddress address = std::get<TargetAddress>(parsed);
    return change(
        ctx, req->has_expected_generation(), req->expected_generation(), out,
        [address](Proxy& proxy) -> std::optional<grpc::Status> {
          auto target = proxy.find_target(address);
          if (!target) {
            return invalid(str_cat("address: \"", address.to_string(), "\" is not a target"));
          }
          if (proxy.targets().size() == 1) {
            return invalid(str_cat("address: \"", address.to_string(),
                                   "\" is the last target; set another one first"));
          }
          proxy.remove_target(target);
          return std::nullopt;
        });
  }

  grpc::ServerUnaryReactor* SetConnections(grpc::CallbackServerContext* ctx,
                                           const v1::SetConnectionsRequest* req,
                                           v1::ChangeResponse* out) override {
    if (auto e = validate_connections(req->connections(), "connections")) {
      return refuse(ctx, invalid(*e));
    }
    std::optional<TargetAddress> only;
    if (!req->target().empty()) {
      auto parsed = parse_address(req->target(), "target");
      if (auto* e = std::get_if<grpc::Status>(&parsed)) return refuse(ctx, *e);
      only = std::get<TargetAddress>(parsed);
    }
    const int connections = static_cast<int>(req->connections());
    return change(
        ctx, req->has_expected_generation(), req->expected_generation(), out,
        [only, connections](Proxy& proxy) -> std::optional<grpc::Status> {
          std::shared_ptr<TargetState> target;
          if (only) {
            target = proxy.find_target(*only);
            if (!target) {
              return invalid(str_cat("target: \"", only->to_string(), "\" is not a target"));
            }
          }
          proxy.set_connections(connections, target);
          return std::nullopt;
        });
  }

  grpc::ServerUnaryReactor* TriggerFailback(grpc::CallbackServerContext* ctx,
                                            const v1::TriggerFailbackRequest* req,
                                            v1::ChangeResponse* out) override {
    std::optional<TargetAddress> only;
    if (!req->target().empty()) {
      auto parsed = parse_address(req->target(), "target");
      if (auto* e = std::get_if<grpc::Status>(&parsed)) return refuse(ctx, *e);
      only = std::get<TargetAddress>(parsed);
    }
    return on_data_plane(ctx, [only, out](Proxy& proxy) {
      std::shared_ptr<TargetState> target;
      if (only) {
        target = proxy.find_target(*only);
        if (!target) return invalid(str_cat("target: \"", only->to_string(), "\" is not a target"));
      }
      proxy.trigger_failback(target);
      out->set_generation(proxy.generation());
      out->set_message("failed-over workers are dialing their home targets");
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* ctx, const v1::DrainRequest*,
                                  v1::ChangeResponse* out) override {
    return on_data_plane(ctx, [out](Proxy& proxy) {
      proxy.begin_shutdown("drain requested over the control API");
      out->set_generation(proxy.generation());
      out->set_message("draining: no new clients; exits once everything is delivered");
      return grpc::Status::OK;
    });
  }

 private:
  std::optional<grpc::Status> authorize(grpc::CallbackServerContext* ctx) const {
    if (token_.empty()) return std::nullopt;
    const auto& metadata = ctx->client_metadata();
    auto it = metadata.find("authorization");
    if (it != metadata.end() &&
        same(std::string_view(it->second.data(), it->second.size()), "Bearer " + token_)) {
      return std::nullopt;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong bearer token in the authorization metadata");
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
    asio::post(io_, [reactor, proxy = proxy_, work = std::move(work)]() mutable {
      reactor->Finish(work(*proxy));
    });
    return reactor;
  }

  // A configuration change: compare-and-set, apply (which may still refuse), bump.
  template <typename Apply>
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* ctx, bool has_expected,
                                   std::uint64_t expected, v1::ChangeResponse* out, Apply apply) {
    return on_data_plane(ctx, [=, apply = std::move(apply)](Proxy& proxy) mutable {
      if (auto refused = stale(proxy, has_expected, expected)) return *refused;
      if (auto refused = apply(proxy)) return *refused;
      out->set_generation(proxy.generation());
      LB_LOG(kInfo, "control: configuration changed; generation ", proxy.generation());
      return grpc::Status::OK;
    });
  }

  asio::io_context& io_;
  std::shared_ptr<Proxy> proxy_;
  std::string token_;
};

ControlServer::~ControlServer() = default;

std::variant<std::unique_ptr<ControlServer>, ControlServer::StartError> ControlServer::start(
    const Options& options, asio::io_context& io, std::shared_ptr<Proxy> proxy) {
  std::unique_ptr<ControlServer> server(new ControlServer());
  std::string token;
  if (!options.control_token_file.empty()) {
    token = read_token(options.control_token_file);
    if (token.empty()) {
      return StartError{2, str_cat("invalid value \"", options.control_token_file,
                                   "\" for -control-token-file: the file is empty")};
    }
  }
  server->service_ = std::make_unique<ControlService>(io, std::move(proxy), std::move(token));

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.control_tls_cert.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back(
        {read_file(options.control_tls_key), read_file(options.control_tls_cert)});
    if (!options.control_client_ca.empty()) {
      ssl.pem_root_certs = read_file(options.control_client_ca);
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // gRPC sets SO_REUSEPORT by default: a second json-tcp-lb on the same control address would
  // start and silently answer half of the calls. Fail to start instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.control_addr, credentials, &port);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || port == 0) {
    return StartError{1, str_cat("cannot serve the control API on ", options.control_addr,
                                 " (address in use, or a bad certificate/key?)")};
  }
  server->port_ = static_cast<std::uint16_t>(port);
  auto address = std::get<TargetAddress>(parse_listen_address(options.control_addr));
  address.port = server->port_;
  LB_LOG(kInfo, "control API listening on ", address.to_string(),
         options.control_tls_cert.empty() ? "" : " (TLS)",
         options.control_client_ca.empty() ? "" : " (client certificates required)",
         options.control_token_file.empty() ? "" : " (bearer token required)");
  return server;
}

void ControlServer::shutdown(asio::io_context& io, Proxy& proxy) {
  // Watch streams send a last status and end with OK rather than being cancelled.
  asio::post(io, [&proxy] { proxy.close_status_watchers(); });
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    done = true;
  });
  io.restart();
  while (!done) io.run_for(std::chrono::milliseconds(20));
  stopper.join();
}

}  // namespace jsontcplb
