#pragma once

#include <absl/status/statusor.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/core/debouncer.h"
#include "controlplane/core/desired_state.h"
#include "controlplane/core/options.h"

namespace jsontcplb::controlplane {

namespace asio = boost::asio;

class ConfigWatcher;
class DataPlaneLink;
class DnsWatcher;
class FleetStats;
struct LinkEnv;

/// lb-controlplane's state and its one job: the desired config (the file, DNS answers and
/// runtime overrides made one DataPlaneConfig with a content-derived version) and a link to every
/// data plane that makes it run that config. File edits and DNS changes are debounced into one
/// recomputation. Everything runs on the io_context's one thread; the fleet API posts there.
class ControlPlane : public std::enable_shared_from_this<ControlPlane> {
 public:
  /// Reads the config file (a bad one is INVALID_ARGUMENT: exit status 2), the state file and
  /// the files for calling data planes.
  static absl::StatusOr<std::shared_ptr<ControlPlane>> create(asio::io_context& io,
                                                              const Options& options,
                                                              std::shared_ptr<FleetStats> stats);
  ControlPlane(asio::io_context& io, const Options& options, std::shared_ptr<FleetStats> stats);
  ~ControlPlane();

  /// Starts watching the file, resolving DNS and linking to every data plane.
  void start();
  /// Stops every link and watcher, then runs `io` until no gRPC call is under way (bounded).
  /// For after io.run() returned, or from a signal handler's stop.
  void shut_down();

  // --- the fleet API (control-plane thread) ---
  v1::FleetStatus status() const;
  /// An edit of the runtime overrides; when it succeeds the overrides are saved and the desired
  /// state recomputed at once. Returns the desired config version.
  using Edit = std::function<absl::Status(v1::FleetOverrides&, const v1::FleetConfig& file)>;
  absl::StatusOr<std::string> change(const Edit& edit);
  /// Asks every data plane to fail back; returns how many were asked.
  std::size_t trigger_failback(const std::string& target);

 private:
  void save_state_file();
  /// A file event: re-read it once the burst is over.
  void config_event();
  void reload_config();
  /// DNS answers or overrides changed: recompute once the burst is over (or now).
  void schedule_recompute();
  void recompute();
  asio::awaitable<void> debounce_loop();
  void refresh_gauges();

  asio::io_context& io_;
  Options options_;
  std::shared_ptr<FleetStats> stats_;
  std::shared_ptr<LinkEnv> link_env_;
  v1::FleetConfig file_;
  std::string file_text_;   // as last read
  std::string file_error_;  // why the last edit was refused (empty: the file is good)
  v1::FleetOverrides overrides_;
  v1::DataPlaneConfig desired_;  // last pushed-able desired config (never an empty target list)
  std::vector<std::string> compose_conditions_;
  std::chrono::steady_clock::time_point desired_changed_at_ = std::chrono::steady_clock::now();
  std::map<std::string, std::shared_ptr<DataPlaneLink>> links_;
  std::unique_ptr<DnsWatcher> dns_;
  std::shared_ptr<ConfigWatcher> watcher_;
  Debouncer reload_debounce_;
  Debouncer recompute_debounce_;
  asio::steady_timer debounce_timer_;
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  bool stopped_ = false;
};

}  // namespace jsontcplb::controlplane
