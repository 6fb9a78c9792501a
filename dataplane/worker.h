#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/core/backoff.h"
#include "dataplane/core/ledger.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/core/target_address.h"

namespace jsontcplb {

namespace asio = boost::asio;

class LineQueue;
class Stats;
class Upstream;
struct Target;

/// Opens a connection to a target (Upstream::connect in production; tests pass their own).
using Dialer =
    std::function<asio::awaitable<absl::StatusOr<std::shared_ptr<Upstream>>>(const TargetAddress&)>;

/// What a worker sees of the data plane. The target set owns it and changes the live part
/// (targets, failback_interval) in apply(); every worker holds it too, so it outlives them.
struct WorkerEnv {
  std::shared_ptr<LineQueue> queue;
  std::shared_ptr<Stats> stats;
  Dialer dial;
  std::size_t max_unacked_bytes = 2 * 1024 * 1024;
  /// Acknowledged bytes a connection keeps while the target may not have read them (0: none).
  std::size_t max_retained_bytes = 1024 * 1024;
  /// The least a failed connection is taken to have left unread (-assume-unread-bytes).
  std::size_t assume_unread_bytes = 0;
  std::chrono::milliseconds write_timeout{30000};
  /// Plain TCP to targets: the ledger knows each batch's wire offsets exactly (not with TLS).
  bool exact_offsets = true;
  // Live.
  std::vector<std::shared_ptr<Target>> targets;
  std::chrono::milliseconds failback_interval{300000};
};

/// One upstream connection slot: pulls batches from the shared queue, writes them to its
/// current target and keeps them in a ledger until the target can no longer be without them:
/// acknowledged by its TCP, and (by its receive window) read by its process. When a connection
/// ends it sends again what the target may not have (settle()) and moves to another target;
/// while away from its home target it dials home every failback interval and switches once
/// that connection is up.
class Worker : public std::enable_shared_from_this<Worker> {
 public:
  Worker(asio::any_io_executor executor, std::shared_ptr<const WorkerEnv> env,
         std::shared_ptr<Target> home, std::size_t spread);

  /// Runs until stopped, or until the queue is drained after it was closed.
  static asio::awaitable<void> run(std::shared_ptr<Worker> self);

  /// Wakes the worker if it sleeps (idle, waiting for acks, or backing off).
  void wake() { wake_timer_.cancel(); }
  /// Stops pulling at the next batch boundary; what the target has not acknowledged (within a
  /// bounded wait) goes back to the queue; then the worker exits.
  void stop();
  /// Dials home now instead of at the next failback interval (no-op when at home).
  void trigger_failback();

  const std::string& name() const { return name_; }
  const std::shared_ptr<Target>& home() const { return home_; }
  /// The target it is connected or connecting to (or backing off from).
  const std::shared_ptr<Target>& current_target() const { return target_; }
  WorkerState state() const { return stopping_ ? WorkerState::kStopping : state_; }
  bool stopping() const { return stopping_; }
  std::size_t spread() const { return spread_; }
  /// Written and not yet acknowledged, on its connection and any it is retiring.
  std::uint64_t unacked_bytes() const { return unacked_bytes_; }
  /// Acknowledged and perhaps unread, on the same connections.
  std::uint64_t retained_bytes() const { return retained_bytes_; }

 private:
  /// How a connection ended.
  enum class End { kFailed, kFailback, kLeave, kStopped, kFinished };
  /// How settle() closes a connection.
  enum class Close {
    kAbort,         ///< Failed (reset, write error, no acknowledgement): at once.
    kTargetClosed,  ///< The target sent FIN; it may read on for a while, then close.
    kGraceful,      ///< We leave: FIN, then the target reads to it and closes.
  };
  /// One connection and what was written on it that the target may not have yet.
  struct Link {
    std::shared_ptr<Upstream> conn;
    std::shared_ptr<Target> target;
    Ledger ledger;
    std::chrono::steady_clock::time_point since;
    bool target_closed = false;  // the target sent FIN
  };
  /// A ledger's totals, to report how an operation changed them.
  struct Held {
    std::size_t unacked_bytes;
    std::uint64_t unacked_lines;
    std::size_t retained_bytes;
  };

  bool finished() const;
  /// Dials `target_`; null after a failure (logged, and counted against its health).
  asio::awaitable<std::shared_ptr<Upstream>> connect();
  /// Serves one connection until it ends: its writer, reader, acknowledgement watchdog and
  /// home dialer as one group.
  asio::awaitable<End> serve(Link& link);
  /// Why the connection must end now, if it must.
  std::optional<End> ending(const Link& link) const;
  asio::awaitable<End> write_loop(Link& link);
  asio::awaitable<void> write_batches(Link& link);
  asio::awaitable<void> read_loop(Link& link);
  asio::awaitable<void> watch_acks(Link& link);
  asio::awaitable<void> dial_home(Link& link);
  asio::awaitable<void> try_dial_home();
  /// After a connection ended: hands its lines back (at once after a failure, else once the
  /// target acknowledged what it can), picks the next target, counts and logs the move.
  /// `home_ready`: a connection home is up and the worker takes it next.
  asio::awaitable<void> leave(Link link, End end, bool home_ready);
  /// The target to use after leaving target_, by the failover policy (core/target_choice.h).
  std::shared_ptr<Target> next_target(bool failed, bool home_ready) const;
  /// Reads TCP_INFO: credits the target with what it acknowledged and lets go of what its
  /// window says it has read.
  void acknowledge(Link& link);
  /// What counts as perhaps unread, from the window's estimate: at least -assume-unread-bytes,
  /// and nothing when retention is off.
  std::uint64_t unread(std::uint64_t estimate) const;
  /// Ends a connection (within `timeout`) and queues again every line the target may not
  /// have: not acknowledged, or acknowledged and perhaps unread when it ended badly. Reads
  /// TCP_INFO before the socket closes; closes with a reset when lines go elsewhere, so the
  /// kernel cannot deliver them here too. Returns the lines queued again.
  asio::awaitable<std::uint64_t> settle(Link& link, Close how, std::chrono::milliseconds timeout);
  /// Closes a connection the worker leaves on purpose (settle(), kGraceful).
  static asio::awaitable<void> retire(std::shared_ptr<Worker> self, Link link);
  asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);
  void set_state(WorkerState state);
  void count_unacked(std::int64_t bytes, std::int64_t lines);
  static Held held(const Ledger& ledger);
  /// Reports how `ledger`'s totals changed since `before` to the worker and the queue.
  void account(const Held& before, const Ledger& ledger);

  std::shared_ptr<const WorkerEnv> env_;
  std::shared_ptr<Target> home_;
  std::size_t spread_;
  std::string name_;
  asio::steady_timer wake_timer_;
  asio::steady_timer failback_timer_;
  Backoff backoff_;
  std::shared_ptr<Target> target_;  // the target it uses or is about to use
  WorkerState state_ = WorkerState::kConnecting;
  bool stopping_ = false;
  bool failback_now_ = false;            // TriggerFailback while not waiting to dial home
  std::shared_ptr<Upstream> home_conn_;  // a new connection home, ready to switch to
  std::uint64_t unacked_bytes_ = 0;
  std::uint64_t retained_bytes_ = 0;
  std::vector<asio::const_buffer> buffers_;  // of the write under way
};

}  // namespace jsontcplb
