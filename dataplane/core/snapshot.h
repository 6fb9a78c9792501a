#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jsontcplb {

/// What a worker is doing; kStopping also covers a worker told to stop that is still busy.
enum class WorkerState { kConnecting, kConnected, kBackoff, kStopping };
inline constexpr std::size_t kWorkerStates = 4;
/// Lower-case names (the `state` label of jsontcplb_worker_connections), in WorkerState order.
inline constexpr std::array<std::string_view, kWorkerStates> kWorkerStateNames = {
    "connecting", "connected", "backoff", "stopping"};

/// Counts since start. Delivered lines include those of targets removed since.
struct Totals {
  std::uint64_t client_connections = 0;
  std::uint64_t received_lines = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t sent_lines = 0;  ///< Acknowledged by a target's TCP.
  std::uint64_t sent_bytes = 0;
  std::uint64_t resent_lines = 0;          ///< Sent again after a connection ended (both reasons).
  std::uint64_t resent_unacked_lines = 0;  ///< Not acknowledged by the target's TCP.
  std::uint64_t resent_maybe_unread_lines = 0;  ///< Acknowledged, perhaps never read.
  std::uint64_t retention_overflow_lines = 0;   ///< Let go at -max-retained-bytes.
  std::uint64_t rejected_long_lines = 0;
  std::uint64_t failovers = 0;
  std::uint64_t failbacks = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t discarded_target_bytes = 0;  ///< Bytes targets sent back (ignored).
};

struct TargetSnapshot {
  std::string address;
  std::uint32_t connections_wanted = 0;
  std::uint32_t connections_connected = 0;
  bool healthy = true;
  std::uint64_t sent_lines = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t resent_lines = 0;  ///< Both reasons.
  std::uint64_t resent_unacked_lines = 0;
  std::uint64_t resent_maybe_unread_lines = 0;
  std::uint64_t unacked_bytes = 0;                              ///< Of the workers using it now.
  std::uint64_t retained_bytes = 0;                             ///< Of the workers using it now.
  std::array<std::uint32_t, kWorkerStates> workers_by_state{};  ///< Workers using it now.
};

struct WorkerSnapshot {
  std::string name;
  std::string home_target;
  std::string current_target;
  WorkerState state = WorkerState::kConnecting;
  std::uint64_t unacked_bytes = 0;
  std::uint64_t retained_bytes = 0;
};

/// The whole observable state of a data plane at one moment, taken on the data-plane thread.
/// It feeds both the control API's Status and the Prometheus gauges.
struct Snapshot {
  std::chrono::nanoseconds uptime{0};
  std::uint64_t generation = 0;
  std::string config_version;
  bool draining = false;
  std::vector<TargetSnapshot> targets;
  std::vector<WorkerSnapshot> workers;
  std::uint64_t queue_bytes = 0;
  std::uint64_t queue_lines = 0;
  std::uint64_t queue_capacity_bytes = 0;
  std::uint64_t unacked_bytes = 0;
  std::uint64_t retained_bytes = 0;
  std::uint32_t client_connections = 0;
  std::uint32_t default_connections = 0;
  std::chrono::milliseconds failback_interval{0};
  Totals totals;
};

}  // namespace jsontcplb
