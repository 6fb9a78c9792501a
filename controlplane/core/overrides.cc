#include "controlplane/core/overrides.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb::controlplane {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

v1::TargetList list_of(const FleetTargets& targets) {
  v1::TargetList list;
  *list.mutable_targets() = targets;
  return list;
}

// Overrides `overrides`' target list with `targets` once they pass the rules.
absl::Status set_targets(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                         const FleetTargets& targets, std::string_view field) {
  if (auto status = check_fleet_targets(targets, field); !status.ok()) return status;
  *overrides.mutable_targets() = list_of(targets);
  *overrides.mutable_file_targets() = list_of(file.targets());
  return absl::OkStatus();
}

std::string_view without_dns_prefix(std::string_view entry) {
  return entry.starts_with("dns:") ? entry.substr(4) : entry;
}

}  // namespace

const FleetTargets& effective_targets(const v1::FleetConfig& file,
                                      const v1::FleetOverrides& overrides) {
  return overrides.has_targets() ? overrides.targets().targets() : file.targets();
}

absl::Status override_targets(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                              const FleetTargets& targets) {
  return set_targets(overrides, file, targets, "targets");
}

absl::Status add_target(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                        const v1::FleetTarget& target) {
  FleetTargets next = effective_targets(file, overrides);
  *next.Add() = target;
  // The new entry is the last one: a message about it names `target`, not targets[N].
  FleetTargets alone;
  *alone.Add() = target;
  if (auto status = check_fleet_targets(alone, "target"); !status.ok()) return status;
  for (int i = 0; i + 1 < next.size(); ++i) {
    if (entry_text(next[i]) == entry_text(target)) {
      return absl::InvalidArgumentError(
          str_cat("target: \"", entry_text(target), "\" is already a target"));
    }
  }
  return set_targets(overrides, file, next, "targets");
}

absl::Status remove_target(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                           std::string_view entry) {
  const std::string_view wanted = without_dns_prefix(entry);
  FleetTargets next;
  bool found = false;
  for (const v1::FleetTarget& t : effective_targets(file, overrides)) {
    if ((t.has_dns() ? t.dns() : t.address()) == wanted) {
      found = true;
    } else {
      *next.Add() = t;
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(str_cat("target: \"", entry, "\" is not a target entry"));
  }
  if (next.empty()) {
    return absl::InvalidArgumentError(
        str_cat("target: \"", entry, "\" is the last target; set another one first"));
  }
  return set_targets(overrides, file, next, "targets");
}

absl::Status override_connections(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                                  std::uint32_t connections) {
  if (auto error = validate_connections(connections, "connections")) {
    return absl::InvalidArgumentError(*error);
  }
  overrides.set_connections(connections);
  overrides.set_file_connections(file.connections());
  return absl::OkStatus();
}

absl::Status override_failback_interval(v1::FleetOverrides& overrides, const v1::FleetConfig& file,
                                        const google::protobuf::Duration& interval) {
  const std::chrono::milliseconds ms(TimeUtil::DurationToMilliseconds(interval));
  if (ms < kMinFailbackInterval) {
    return absl::InvalidArgumentError(str_cat("failback_interval: ", format_duration(ms),
                                              " is too short; at least ",
                                              format_duration(kMinFailbackInterval)));
  }
  *overrides.mutable_failback_interval() = interval;
  if (file.has_failback_interval()) {
    *overrides.mutable_file_failback_interval() = file.failback_interval();
  } else {
    overrides.clear_file_failback_interval();
  }
  return absl::OkStatus();
}

std::vector<std::string> drop_overrides_the_file_changed(v1::FleetOverrides& overrides,
                                                         const v1::FleetConfig& file) {
  std::vector<std::string> dropped;
  if (overrides.has_targets() &&
      !MessageDifferencer::Equals(overrides.file_targets(), list_of(file.targets()))) {
    overrides.clear_targets();
    overrides.clear_file_targets();
    dropped.push_back("targets (the file changed them; the file wins over the runtime override)");
  }
  if (overrides.has_connections() && overrides.file_connections() != file.connections()) {
    overrides.clear_connections();
    overrides.clear_file_connections();
    dropped.push_back(
        "connections (the file changed them; the file wins over the runtime override)");
  }
  if (overrides.has_failback_interval()) {
    const bool file_had = overrides.has_file_failback_interval();
    const bool changed =
        file_had != file.has_failback_interval() ||
        (file_had &&
         !MessageDifferencer::Equals(overrides.file_failback_interval(), file.failback_interval()));
    if (changed) {
      overrides.clear_failback_interval();
      overrides.clear_file_failback_interval();
      dropped.push_back(
          "failbackInterval (the file changed it; the file wins over the runtime override)");
    }
  }
  return dropped;
}

}  // namespace jsontcplb::controlplane
