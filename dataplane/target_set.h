#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "dataplane/core/live_config.h"
#include "dataplane/core/snapshot.h"
#include "dataplane/worker.h"

namespace jsontcplb {

namespace asio = boost::asio;

/// The targets, their workers and the live config with its generation. The config changes only
/// through apply(), which checks the expected generation, validates, reconciles the workers to
/// the new config and bumps the generation, or refuses and changes nothing. Data-plane thread.
class TargetSet : public std::enable_shared_from_this<TargetSet> {
 public:
  /// `env` carries the queue, the stats, the dialer and the fixed worker settings; its live part
  /// is filled from `initial`, which must be valid.
  /// `limits` bound every later config (apply() refuses more with RESOURCE_EXHAUSTED).
  TargetSet(asio::io_context::executor_type executor, LiveConfig initial, WorkerEnv env,
            ConfigLimits limits = {});

  /// Starts the workers of the initial config.
  void start();

  const LiveConfig& config() const { return config_; }
  std::uint64_t generation() const { return generation_; }
  /// OK when `expected` is unset or the current generation; FAILED_PRECONDITION otherwise.
  absl::Status check_generation(std::optional<std::uint64_t> expected) const;
  /// Makes `next` the live config when the generation still is `expected` (if set) and `next`
  /// is valid: new targets get workers, removed ones are left without loss, kept ones are
  /// adjusted. Returns the new generation; on refusal nothing changed.
  absl::StatusOr<std::uint64_t> apply(LiveConfig next,
                                      std::optional<std::uint64_t> expected_generation);
  /// Failed-over workers (of `home`, or of every target) dial home now. Not a config change.
  absl::Status trigger_failback(const std::optional<TargetAddress>& home);

  /// Wakes every worker (shutdown: they check whether they are done).
  void wake_workers();
  std::size_t worker_count() const { return workers_.size(); }
  /// Called when the last worker has exited once the queue is closed (shutdown is complete).
  void on_all_exited(std::function<void()> callback) { on_all_exited_ = std::move(callback); }

  /// Logs a line for each target that has been down for a summary interval since its last one.
  void log_down_targets(std::chrono::steady_clock::time_point now);

  /// Targets, workers and the config's fields, for a status snapshot.
  void fill(Snapshot& snapshot) const;

 private:
  std::shared_ptr<Target> make_target(const TargetAddress& address);
  std::shared_ptr<Target> find(const TargetAddress& address) const;
  void start_worker(std::shared_ptr<Target> home, std::size_t spread);
  /// Starts or stops workers whose home is `target` until `wanted` are running.
  void reconcile(const std::shared_ptr<Target>& target, std::size_t wanted);
  void worker_exited(const Worker& worker);

  asio::io_context::executor_type executor_;
  std::shared_ptr<WorkerEnv> env_;  // env_->targets mirrors config_.targets, in order
  LiveConfig config_;
  ConfigLimits limits_;
  std::uint64_t generation_ = 1;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::function<void()> on_all_exited_;
};

}  // namespace jsontcplb
