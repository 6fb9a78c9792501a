#include "controlplane/core/fleet_config.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <set>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/live_config.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb::controlplane {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

std::chrono::milliseconds millis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(d));
}

// One `address` or `dns` entry: set, parses, not seen before. `what` is "target" or
// "data plane", for the message.
template <typename Entry>
absl::Status check_entry(const Entry& entry, const std::string& name, std::set<std::string>& seen) {
  if (entry.source_case() == Entry::SOURCE_NOT_SET) {
    return invalid(str_cat(name, ": needs \"address\" or \"dns\""));
  }
  const bool dns = entry.source_case() == Entry::kDns;
  const std::string& text = dns ? entry.dns() : entry.address();
  const std::string field = str_cat(name, dns ? ".dns" : ".address");
  auto parsed = parse_target_address(text);
  if (auto* error = std::get_if<std::string>(&parsed)) return invalid(str_cat(field, ": ", *error));
  if (!seen.insert(entry_text(entry)).second) {
    return invalid(str_cat(field, ": \"", text, "\" is listed twice"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string entry_text(const v1::FleetTarget& target) {
  return target.has_dns() ? str_cat("dns:", target.dns()) : target.address();
}

std::string entry_text(const v1::DataPlaneSource& source) {
  return source.has_dns() ? str_cat("dns:", source.dns()) : source.address();
}

TargetAddress entry_address(const v1::FleetTarget& target) {
  return std::get<TargetAddress>(
      parse_target_address(target.has_dns() ? target.dns() : target.address()));
}

TargetAddress entry_address(const v1::DataPlaneSource& source) {
  return std::get<TargetAddress>(
      parse_target_address(source.has_dns() ? source.dns() : source.address()));
}

std::chrono::milliseconds dns_refresh_interval(const v1::FleetConfig& config) {
  return config.has_dns_refresh_interval() ? millis(config.dns_refresh_interval())
                                           : std::chrono::milliseconds(kDefaultDnsRefresh);
}

absl::Status check_fleet_targets(const FleetTargets& targets, std::string_view field) {
  if (targets.empty()) return invalid(str_cat(field, ": the target list must not be empty"));
  std::set<std::string> seen;
  for (int i = 0; i < targets.size(); ++i) {
    const std::string name = str_cat(field, "[", i, "]");
    if (auto status = check_entry(targets[i], name, seen); !status.ok()) return status;
    if (targets[i].connections() != 0) {
      if (auto error = validate_connections(targets[i].connections(), name + ".connections")) {
        return invalid(*error);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status validate_fleet_config(const v1::FleetConfig& config) {
  if (auto status = check_fleet_targets(config.targets(), "targets"); !status.ok()) return status;
  if (config.connections() != 0) {
    if (auto error = validate_connections(config.connections(), "connections")) {
      return invalid(*error);
    }
  }
  if (config.has_failback_interval() && millis(config.failback_interval()) < kMinFailbackInterval) {
    return invalid(
        str_cat("failbackInterval: ", format_duration(millis(config.failback_interval())),
                " is too short; at least ", format_duration(kMinFailbackInterval)));
  }
  if (config.data_planes().empty()) {
    return invalid(
        "dataPlanes: the list must not be empty; name the json-tcp-lb control APIs "
        "to configure");
  }
  std::set<std::string> seen;
  for (int i = 0; i < config.data_planes_size(); ++i) {
    if (auto status = check_entry(config.data_planes(i), str_cat("dataPlanes[", i, "]"), seen);
        !status.ok()) {
      return status;
    }
  }
  if (dns_refresh_interval(config) < kMinDnsRefresh) {
    return invalid(str_cat("dnsRefreshInterval: ", format_duration(dns_refresh_interval(config)),
                           " is too short; at least ", format_duration(kMinDnsRefresh)));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::FleetConfig> parse_fleet_config(std::string_view json) {
  v1::FleetConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &config, options);
  if (!parsed.ok()) {
    // protobuf's message may go on with the offending text and a caret on lines of their own.
    std::string message(parsed.message());
    message = message.substr(0, message.find('\n'));
    return invalid(
        str_cat("not a valid config (protobuf JSON of jsontcplb.v1.FleetConfig): ", message));
  }
  if (auto status = validate_fleet_config(config); !status.ok()) return status;
  return config;
}

}  // namespace jsontcplb::controlplane
