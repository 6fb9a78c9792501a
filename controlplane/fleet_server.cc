#include "controlplane/fleet_server.h"

#include <grpcpp/grpcpp.h>

#include <boost/asio/post.hpp>

#include "controlplane/control_plane.h"
#include "controlplane/core/overrides.h"
#include "dataplane/core/log.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/grpc_common.h"
#include "jsontcplb/v1/fleet.grpc.pb.h"

namespace jsontcplb::controlplane {

namespace asio = boost::asio;

class FleetService final : public v1::FleetControl::CallbackService {
 public:
  FleetService(asio::io_context& io, std::shared_ptr<ControlPlane> cp, std::string token)
      : io_(io), cp_(std::move(cp)), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* GetFleetStatus(grpc::CallbackServerContext* ctx,
                                           const v1::GetFleetStatusRequest*,
                                           v1::FleetStatus* out) override {
    return on_control_plane(ctx, [out](ControlPlane& cp) {
      *out = cp.status();
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* SetTargets(grpc::CallbackServerContext* ctx,
                                       const v1::FleetSetTargetsRequest* req,
                                       v1::FleetChangeResponse* out) override {
    return change(ctx, out, "targets set",
                  [req = *req](v1::FleetOverrides& o, const v1::FleetConfig& file) {
                    if (auto s = override_targets(o, file, req.targets()); !s.ok()) return s;
                    if (req.connections() != 0) {
                      if (auto s = override_connections(o, file, req.connections()); !s.ok())
                        return s;
                    }
                    if (req.has_failback_interval()) {
                      return override_failback_interval(o, file, req.failback_interval());
                    }
                    return absl::OkStatus();
                  });
  }

  grpc::ServerUnaryReactor* AddTarget(grpc::CallbackServerContext* ctx,
                                      const v1::FleetAddTargetRequest* req,
                                      v1::FleetChangeResponse* out) override {
    return change(ctx, out, str_cat("target ", entry_text(req->target()), " added"),
                  [target = req->target()](v1::FleetOverrides& o, const v1::FleetConfig& file) {
                    return add_target(o, file, target);
                  });
  }

  grpc::ServerUnaryReactor* RemoveTarget(grpc::CallbackServerContext* ctx,
                                         const v1::FleetRemoveTargetRequest* req,
                                         v1::FleetChangeResponse* out) override {
    return change(ctx, out, str_cat("target ", req->target(), " removed"),
                  [target = req->target()](v1::FleetOverrides& o, const v1::FleetConfig& file) {
                    return remove_target(o, file, target);
                  });
  }

  grpc::ServerUnaryReactor* SetConnections(grpc::CallbackServerContext* ctx,
                                           const v1::FleetSetConnectionsRequest* req,
                                           v1::FleetChangeResponse* out) override {
    return change(ctx, out, str_cat("connections set to ", req->connections()),
                  [n = req->connections()](v1::FleetOverrides& o, const v1::FleetConfig& file) {
                    return override_connections(o, file, n);
                  });
  }

  grpc::ServerUnaryReactor* TriggerFailback(grpc::CallbackServerContext* ctx,
                                            const v1::TriggerFailbackRequest* req,
                                            v1::FleetChangeResponse* out) override {
    return on_control_plane(ctx, [target = req->target(), out](ControlPlane& cp) {
      const std::size_t n = cp.trigger_failback(target);
      out->set_config_version(cp.status().desired().config_version());
      out->set_message(str_cat("asked ", n, " data plane(s) to fail back"));
      return grpc::Status::OK;
    });
  }

 private:
  grpc::ServerUnaryReactor* refuse(grpc::CallbackServerContext* ctx, grpc::Status status) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  // Runs `work` on the control-plane thread and finishes the call with its result.
  template <typename Work>
  grpc::ServerUnaryReactor* on_control_plane(grpc::CallbackServerContext* ctx, Work work) {
    if (auto denied = check_bearer_token(*ctx, token_)) return refuse(ctx, *denied);
    auto* reactor = ctx->DefaultReactor();
    asio::post(
        io_, [reactor, cp = cp_, work = std::move(work)]() mutable { reactor->Finish(work(*cp)); });
    return reactor;
  }

  // A change of the runtime overrides, applied and saved in one place.
  grpc::ServerUnaryReactor* change(grpc::CallbackServerContext* ctx, v1::FleetChangeResponse* out,
                                   std::string what, ControlPlane::Edit edit) {
    return on_control_plane(
        ctx, [out, what = std::move(what), edit = std::move(edit)](ControlPlane& cp) {
          auto version = cp.change(edit);
          if (!version.ok()) return to_grpc(version.status());
          const v1::FleetStatus status = cp.status();
          out->set_config_version(*version);
          out->set_message(str_cat(what, "; desired config ", *version, " for ",
                                   status.data_planes_size(), " data plane(s)"));
          LB_LOG(kInfo, "fleet API: ", what, "; desired config ", *version);
          return grpc::Status::OK;
        });
  }

  asio::io_context& io_;
  std::shared_ptr<ControlPlane> cp_;
  std::string token_;
};

FleetServer::~FleetServer() = default;

absl::StatusOr<std::unique_ptr<FleetServer>> FleetServer::start(const ControlApiOptions& options,
                                                                asio::io_context& io,
                                                                std::shared_ptr<ControlPlane> cp) {
  auto security = load_server_security(options);
  if (!security.ok()) return security.status();
  std::unique_ptr<FleetServer> server(new FleetServer());
  server->service_ = std::make_unique<FleetService>(io, std::move(cp), security->token);
  auto started = start_grpc_server(options, *security, *server->service_, "fleet API");
  if (!started.ok()) return started.status();
  server->server_ = std::move(started->server);
  server->port_ = started->port;
  return server;
}

void FleetServer::shutdown(asio::io_context& io) { shutdown_grpc_server(*server_, io); }

}  // namespace jsontcplb::controlplane
