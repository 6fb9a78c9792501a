#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>

#include <cstdint>
#include <string>

#include "jsontcplb/v1/control.pb.h"
#include "jsontcplb/v1/fleet.pb.h"

namespace jsontcplb::cli {

/// The protobuf JSON mapping of `message` on one line (lowerCamelCase names, 64-bit integers
/// as strings, enums by name), with zero values printed too so scripts always find every field.
std::string to_json(const google::protobuf::Message& message);

/// Status for people: a header (version, uptime, generation, config version, queue, clients,
/// totals), the target table and the worker table.
std::string format_status(const v1::Status& status);
/// Only the target table.
std::string format_targets(const v1::Status& status);
/// One line: what the server did and the generation it is at now.
std::string format_change(const v1::ChangeResponse& response);

/// Fleet status for people: a header line (lb-controlplane's version, uptime, the desired config
/// version and what it holds), one row per data plane, a totals line and the conditions.
std::string format_fleet_status(const v1::FleetStatus& status);
/// The fleet's desired targets with their connections.
std::string format_fleet_targets(const v1::FleetStatus& status);
/// One line: what the control plane did and the desired config version now.
std::string format_change(const v1::FleetChangeResponse& response);

/// "512 B", "1.5 KiB", "16.0 MiB".
std::string human_bytes(std::uint64_t bytes);
/// Go style ("1h2m3s"); `whole_seconds` drops the fraction (for uptimes).
std::string format_proto_duration(const google::protobuf::Duration& duration, bool whole_seconds);

}  // namespace jsontcplb::cli
