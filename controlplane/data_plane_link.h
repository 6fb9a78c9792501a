#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "controlplane/core/sync_state.h"
#include "dataplane/core/backoff.h"
#include "dataplane/core/target_address.h"
#include "dataplane/grpc_common.h"
#include "jsontcplb/v1/control.grpc.pb.h"
#include "jsontcplb/v1/fleet.pb.h"

namespace jsontcplb::controlplane {

namespace asio = boost::asio;
namespace v1 = jsontcplb::v1;
using Clock = std::chrono::steady_clock;

class FleetStats;

/// Bounds the pushes in flight over the whole fleet; the others wait their turn, oldest first.
/// Control-plane thread.
class PushGate {
 public:
  explicit PushGate(int limit) : limit_(limit) {}
  /// True when a push may start now (the caller must leave() when it ends). Otherwise `resume`
  /// is called once a push ended, to try again.
  bool try_enter(std::function<void()> resume);
  void leave();

 private:
  int limit_;
  int in_flight_ = 0;
  std::deque<std::function<void()>> waiting_;
};

/// What every data-plane link shares; owned by the control plane and held by each link and
/// each gRPC call, so it outlives them.
struct LinkEnv {
  LinkEnv(asio::io_context& io_, ClientSecurity security_, std::chrono::milliseconds timeout,
          std::shared_ptr<FleetStats> stats_, int max_pushes)
      : io(io_),
        security(std::move(security_)),
        push_timeout(timeout),
        stats(std::move(stats_)),
        gate(max_pushes) {}
  asio::io_context& io;
  ClientSecurity security;
  std::chrono::milliseconds push_timeout;
  std::shared_ptr<FleetStats> stats;
  PushGate gate;
  /// gRPC calls under way; at shutdown the io_context runs until none is left.
  std::atomic<int> calls{0};
  /// A link's state changed (the control plane refreshes its gauges).
  std::function<void()> changed;
};

/// One data plane as the control plane sees it: its WatchStatus stream (opened again with
/// jittered backoff whenever it ends), and pushes of the desired config with SetTargets and the
/// expected generation whenever the version it reports differs (policy in SyncState). Lives on
/// the control-plane thread; gRPC's callbacks post there.
class DataPlaneLink : public std::enable_shared_from_this<DataPlaneLink> {
 public:
  DataPlaneLink(std::shared_ptr<LinkEnv> env, TargetAddress address);

  /// Opens the status stream after `delay` (spreads a fleet's first calls).
  void start(Clock::duration delay);
  /// Ends the stream and every retry; the data plane keeps its config.
  void stop();
  /// The desired config changed at `changed_at` (empty targets: nothing to push yet).
  void set_desired(const v1::DataPlaneConfig& desired, Clock::time_point changed_at);
  /// Forwards TriggerFailback (fire and forget; a failure is logged).
  void trigger_failback(const std::string& target);

  void fill(v1::DataPlaneStatus& out) const;
  SyncState::State state() const { return sync_.state(); }
  const std::string& name() const { return name_; }

  // Called on the control-plane thread by the status stream (see data_plane_link.cc).
  void on_status(std::uint64_t epoch, const v1::Status& status);
  void on_stream_end(std::uint64_t epoch, const grpc::Status& status);

 private:
  struct StreamCall;
  void open_stream();
  void maybe_push();
  void push();
  void on_push_done(const grpc::Status& status, const v1::ChangeResponse& response);
  /// The backoff after a failed push has passed.
  void retry_push();
  /// Convergence timing and the fleet's gauges, after any change of state.
  void note_state();
  /// Runs `then` on this link after `delay` on `timer`, unless the link stops first.
  void after(asio::steady_timer& timer, Clock::duration delay, void (DataPlaneLink::*then)());

  std::shared_ptr<LinkEnv> env_;
  TargetAddress address_;
  std::string name_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DataPlaneControl::Stub> stub_;
  SyncState sync_;
  v1::DataPlaneConfig desired_;
  std::optional<Clock::time_point> out_of_sync_since_;
  std::shared_ptr<StreamCall> stream_;
  std::uint64_t epoch_ = 0;  // of the stream in use; events of older ones are ignored
  asio::steady_timer stream_timer_;
  asio::steady_timer push_timer_;
  Backoff stream_backoff_;
  Backoff push_backoff_;
  v1::Status last_status_;
  std::optional<std::chrono::system_clock::time_point> last_contact_;
  bool seen_ = false;  // a status has come in once
  bool stopped_ = false;
  bool waiting_for_gate_ = false;
};

}  // namespace jsontcplb::controlplane
