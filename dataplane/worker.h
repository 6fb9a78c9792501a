#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/core/backoff.h"
#include "dataplane/core/ledger.h"

namespace jsontcplb {

namespace asio = boost::asio;

class Proxy;
class Upstream;
struct TargetState;

/// One upstream connection slot: pulls batches from the shared queue, writes them to its
/// current target and keeps them in a ledger until the target's TCP acknowledged them. On
/// failure it requeues what was not acknowledged and moves to another target; while away from
/// its home target it dials home every failback interval and switches once that connection is up.
class Worker : public std::enable_shared_from_this<Worker> {
 public:
  Worker(std::shared_ptr<Proxy> proxy, std::shared_ptr<TargetState> home, std::size_t spread,
         std::string name);

  /// Runs until the proxy has flushed everything during shutdown.
  static asio::awaitable<void> run(std::shared_ptr<Worker> self);

  /// Wakes the worker if it sleeps (idle, waiting for acks, or backing off).
  void wake() { wake_timer_.cancel(); }
  /// Stops pulling at the next batch boundary; what the target has not acknowledged (within a
  /// bounded wait) goes back to the queue; then the worker exits.
  void stop();
  /// Dials home now instead of at the next failback interval (no-op when at home).
  void trigger_failback();

  enum class State { kConnecting, kConnected, kBackoff, kStopping };
  const std::string& name() const { return name_; }
  const std::shared_ptr<TargetState>& home() const { return home_; }
  /// The target it is connected or connecting to (or backing off from).
  const std::shared_ptr<TargetState>& current_target() const { return current_target_; }
  State state() const { return state_; }
  bool stopping() const { return stopping_; }
  std::size_t spread() const { return spread_; }
  std::uint64_t unacked_bytes() const { return unacked_bytes_; }

 private:
  enum class End { kFailed, kFailback, kLeave, kStopped, kFinished };
  /// One connection with what was written on it and not yet acknowledged.
  struct Link {
    std::shared_ptr<Upstream> conn;
    std::shared_ptr<TargetState> target;
    Ledger ledger;
    std::chrono::steady_clock::time_point since;
  };

  asio::awaitable<End> serve(Link& link);
  static asio::awaitable<void> read_loop(std::shared_ptr<Worker> self,
                                         std::shared_ptr<Upstream> conn);
  /// Fails the connection when written bytes see no acknowledgement for -write-timeout.
  static asio::awaitable<void> ack_watchdog(std::shared_ptr<Worker> self,
                                            std::shared_ptr<Upstream> conn);
  static asio::awaitable<void> failback_loop(std::shared_ptr<Worker> self,
                                             std::shared_ptr<Upstream> current);
  /// Releases acknowledged batches from the ledger and credits the target.
  void release_acked(Link& link);
  /// After a failure: credit what was acknowledged, requeue the rest. Returns lines requeued.
  std::uint64_t requeue_unacked(Link& link);
  /// Closes a connection the worker is leaving on purpose, after the target acknowledged
  /// everything (bounded); whatever stays unacknowledged goes back to the queue.
  static asio::awaitable<void> retire(std::shared_ptr<Worker> self, Link link);
  asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);
  void set_state(State state, const std::shared_ptr<TargetState>& target);
  void count_ledger_change(std::int64_t bytes, std::int64_t lines);
  std::shared_ptr<TargetState> pick_failover_target(const TargetState& failed) const;

  std::shared_ptr<Proxy> proxy_;
  std::shared_ptr<TargetState> home_;
  std::size_t spread_;
  std::string name_;
  asio::steady_timer wake_timer_;
  Backoff backoff_;
  asio::steady_timer failback_timer_;
  Upstream* current_ = nullptr;  // the connection being served
  std::shared_ptr<TargetState> current_target_;
  State state_ = State::kConnecting;
  bool stopping_ = false;
  bool go_home_ = false;
  std::uint64_t unacked_bytes_ = 0;
  std::shared_ptr<Upstream> failback_conn_;  // a new connection home, ready to switch to
};

}  // namespace jsontcplb
