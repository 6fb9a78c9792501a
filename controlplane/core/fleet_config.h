#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <google/protobuf/repeated_ptr_field.h>

#include <chrono>
#include <string>
#include <string_view>

#include "dataplane/core/target_address.h"
#include "jsontcplb/v1/fleet.pb.h"

namespace jsontcplb::controlplane {

namespace v1 = jsontcplb::v1;
using FleetTargets = google::protobuf::RepeatedPtrField<v1::FleetTarget>;

/// DNS names are resolved again this often unless the file says otherwise.
inline constexpr std::chrono::seconds kDefaultDnsRefresh{5};
inline constexpr std::chrono::milliseconds kMinDnsRefresh{100};

/// Parses lb-controlplane's config file (protobuf JSON of v1::FleetConfig) and checks every rule
/// (validate_fleet_config). Unknown fields are an error. INVALID_ARGUMENT names the field (as
/// written in JSON, e.g. `targets[1].dns`), the value and the rule.
absl::StatusOr<v1::FleetConfig> parse_fleet_config(std::string_view json);

/// The rules of a whole config: at least one target and one data plane; every entry is an
/// `address` or a `dns` name of the form host:port with a port from 1 to 65535; no entry twice;
/// connections 0 or 1..1024; failbackInterval at least 10ms; dnsRefreshInterval at least 100ms.
absl::Status validate_fleet_config(const v1::FleetConfig& config);

/// The target-list rules alone, for lists that come over the fleet API (`field` names the list).
absl::Status check_fleet_targets(const FleetTargets& targets, std::string_view field);

/// An entry as written: its address, or `dns:NAME:PORT`.
std::string entry_text(const v1::FleetTarget& target);
std::string entry_text(const v1::DataPlaneSource& source);

/// host:port of a valid entry (its address, or its DNS name and port).
TargetAddress entry_address(const v1::FleetTarget& target);
TargetAddress entry_address(const v1::DataPlaneSource& source);

/// dnsRefreshInterval, or the default.
std::chrono::milliseconds dns_refresh_interval(const v1::FleetConfig& config);

}  // namespace jsontcplb::controlplane
