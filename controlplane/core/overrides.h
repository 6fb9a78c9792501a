#pragma once

#include <absl/status/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/core/fleet_config.h"

namespace jsontcplb::controlplane {

// Fleet-wide changes made over the API are overrides on top of the config file: each one
// records what the file said for that field, so a later change of the field in the file wins.
// Each edit checks its input and leaves `overrides` unchanged when it refuses (INVALID_ARGUMENT
// naming the field and value).

/// The targets in force: the override's, or the file's.
const FleetTargets& effective_targets(const v1::FleetConfig& file,
                                      const v1::FleetOverrides& overrides);

absl::Status override_targets(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                              const FleetTargets& targets);
absl::Status add_target(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                        const v1::FleetTarget& target);
/// `entry` as written: an address, or a DNS name (with or without the `dns:` prefix).
absl::Status remove_target(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                           std::string_view entry);
absl::Status override_connections(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                                  std::uint32_t connections);
absl::Status override_failback_interval(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                                        const google::protobuf::Duration& interval);

/// After the file changed: drops every override of a field the new file changed. Returns one
/// line per dropped override, for the log.
std::vector<std::string> drop_overrides_the_file_changed(v1::FleetOverrides& overrides,
                                                         const v1::FleetConfig& file);

}  // namespace jsontcplb::controlplane
