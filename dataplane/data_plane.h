#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "dataplane/core/live_config.h"
#include "dataplane/core/options.h"
#include "dataplane/core/snapshot.h"

namespace jsontcplb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class ClientRegistry;
class Lifecycle;
class LogLimiter;
class LineQueue;
class Listener;
class Stats;
class TargetSet;

/// The data plane, as main() and the control API see it: the composition root that builds the
/// owners and wires them together, and the seams the control API needs, all on the data-plane
/// thread (the io_context's one thread):
///   line queue (line_queue.h)      the bounded queue, admission, wake lists, unacked totals
///   listener   (listener.h)        acceptor, client TLS, reader threads, sessions
///   clients    (client_registry.h) the open sessions, the drain cut
///   targets    (target_set.h)      targets, workers, the live config and its generation
///   lifecycle  (lifecycle.h)       signals, drain, flush, exit
///   stats      (stats.h)           every counter and gauge, status watchers
class DataPlane : public std::enable_shared_from_this<DataPlane> {
 public:
  /// Builds the TLS contexts and binds the listener. INVALID_ARGUMENT for a flag value that
  /// cannot be used (exit status 2), another code otherwise (exit status 1).
  static absl::StatusOr<std::shared_ptr<DataPlane>> create(asio::io_context& io,
                                                           const Options& options,
                                                           std::shared_ptr<Stats> stats);
  DataPlane(asio::io_context& io, const Options& options, std::shared_ptr<Stats> stats);
  ~DataPlane();

  /// Starts accepting, the workers, the signal handler and the once-a-second publishing.
  void start();
  tcp::endpoint listen_endpoint() const;

  // --- the control API's seams (data-plane thread) ---
  /// Everything a status shows, taken now.
  Snapshot snapshot() const;
  const LiveConfig& config() const;
  /// Makes `edit(current config)` the live config if the generation is still `expected` (when
  /// set); every configuration change goes this way. Returns the new generation, or why not.
  using Edit = std::function<absl::StatusOr<LiveConfig>(const LiveConfig&)>;
  absl::StatusOr<std::uint64_t> change(std::optional<std::uint64_t> expected, const Edit& edit);
  /// Failed-over workers (of `home`, or all) dial home now.
  absl::Status trigger_failback(const std::optional<TargetAddress>& home);
  /// Like SIGTERM.
  void drain(std::string_view why);
  /// Runs once when the drain begins, however it was asked for (data-plane thread).
  void on_drain(std::function<void()> callback);
  Stats& stats() { return *stats_; }

  /// Sets the gauges from a fresh snapshot and flushes the histogram (also once a second).
  void publish_metrics();

 private:
  asio::awaitable<void> publish_loop();
  /// Returns free heap memory to the kernel once everything received has been delivered.
  void trim_heap_when_idle();

  asio::io_context& io_;
  const Options options_;  // as started; the live part is the target set's
  std::shared_ptr<Stats> stats_;
  std::shared_ptr<LineQueue> queue_;
  std::shared_ptr<ClientRegistry> clients_;
  std::shared_ptr<TargetSet> targets_;
  std::shared_ptr<Listener> listener_;
  std::shared_ptr<Lifecycle> lifecycle_;
  std::shared_ptr<LogLimiter> client_events_;  // summarized once a publish interval
  asio::steady_timer publish_timer_;
  std::uint64_t received_at_trim_ = 0;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
};

}  // namespace jsontcplb
