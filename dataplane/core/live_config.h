#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/core/target_address.h"

namespace jsontcplb {

struct Options;

/// Failback intervals shorter than this would make failed-over workers dial home in a loop.
inline constexpr std::chrono::milliseconds kMinFailbackInterval{10};

/// One entry of the target list.
struct TargetSpec {
  TargetAddress address;
  std::uint32_t connections = 0;  ///< Worker connections to it; 0 = LiveConfig::connections.
  bool operator==(const TargetSpec&) const = default;
};

/// The part of a data plane's configuration that can change while it runs: the C++ side of
/// proto's DataPlaneConfig. The flags give the first one; the control API replaces it whole.
struct LiveConfig {
  std::vector<TargetSpec> targets;
  std::uint32_t connections = 4;  ///< Default worker connections per target.
  std::chrono::milliseconds failback_interval = std::chrono::minutes(5);
  std::string config_version;  ///< Opaque; chosen by whoever pushed the config.

  /// The config the command line describes.
  static LiveConfig from_options(const Options& options);
  /// Workers wanted for `target`: its own count, or the default.
  std::uint32_t connections_for(const TargetSpec& target) const {
    return target.connections > 0 ? target.connections : connections;
  }
  /// The entry for `address`, or null.
  const TargetSpec* find(const TargetAddress& address) const;
  bool operator==(const LiveConfig&) const = default;
};

/// A target as the control API receives it, before its address is parsed.
struct RequestedTarget {
  std::string address;
  std::uint32_t connections = 0;
};

/// Parses every address (the error names `field[i].address` and the value), then applies
/// check_targets() to the list.
absl::StatusOr<std::vector<TargetSpec>> parse_targets(const std::vector<RequestedTarget>& targets,
                                                      std::string_view field = "targets");

/// A target list is valid when it is not empty, has no address twice and every connections value
/// is 0 (the default) or 1..kMaxConnectionsPerTarget. INVALID_ARGUMENT names `field[i]` and the
/// value otherwise.
absl::Status check_targets(std::span<const TargetSpec> targets, std::string_view field);

/// What one data plane may be asked to run (-max-targets, -max-total-connections): a bound on
/// its file descriptors, memory and the work of applying a change.
struct ConfigLimits {
  std::size_t max_targets = 512;
  std::size_t max_total_connections = 2048;
};

/// Connections `config` asks for in all: the sum over its targets.
std::uint64_t total_connections(const LiveConfig& config);

/// RESOURCE_EXHAUSTED naming the limit and its flag when `config` has more targets or asks for
/// more connections in all than `limits` allow.
absl::Status check_limits(const LiveConfig& config, const ConfigLimits& limits,
                          std::string_view prefix = "");

/// Every rule a config must meet: check_targets(), a default from 1 to kMaxConnectionsPerTarget,
/// a failback interval of at least kMinFailbackInterval. Fields are named `prefix` + field.
absl::Status validate(const LiveConfig& config, std::string_view prefix = "");

// Edits behind the control API's single-purpose calls. Each returns the whole new config, or
// INVALID_ARGUMENT naming the request field and the value. Each clears config_version: the
// result is no longer the config its pusher versioned (a control plane sees the drift).

/// Appends `target` (field `target`); refuses an address already in the list.
absl::StatusOr<LiveConfig> with_target_added(LiveConfig config, TargetSpec target);
/// Drops `address` (field `address`); refuses an unknown address and the last target.
absl::StatusOr<LiveConfig> with_target_removed(LiveConfig config, const TargetAddress& address);
/// `target` set: that target's connections (field `target`). Unset: the default, and every target
/// follows it (per-target values are dropped).
absl::StatusOr<LiveConfig> with_connections(LiveConfig config, std::uint32_t connections,
                                            const std::optional<TargetAddress>& target);

}  // namespace jsontcplb
