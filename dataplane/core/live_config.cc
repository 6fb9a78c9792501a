#include "dataplane/core/live_config.h"

#include <algorithm>
#include <set>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/options.h"
#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb {
namespace {

absl::Status invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

std::string quoted(const TargetAddress& address) {
  return str_cat("\"", address.to_string(), "\"");
}

}  // namespace

LiveConfig LiveConfig::from_options(const Options& options) {
  LiveConfig config;
  for (const TargetAddress& address : options.targets) config.targets.push_back({address, 0});
  config.connections = static_cast<std::uint32_t>(options.connections);
  config.failback_interval = options.failback_interval;
  return config;
}

const TargetSpec* LiveConfig::find(const TargetAddress& address) const {
  auto it = std::find_if(targets.begin(), targets.end(),
                         [&](const TargetSpec& t) { return t.address == address; });
  return it == targets.end() ? nullptr : &*it;
}

absl::StatusOr<std::vector<TargetSpec>> parse_targets(const std::vector<RequestedTarget>& targets,
                                                      std::string_view field) {
  std::vector<TargetSpec> out;
  out.reserve(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto parsed = parse_target_address(targets[i].address);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      return invalid(str_cat(field, "[", i, "].address: ", *error));
    }
    out.push_back({std::get<TargetAddress>(std::move(parsed)), targets[i].connections});
  }
  if (auto status = check_targets(out, field); !status.ok()) return status;
  return out;
}

absl::Status check_targets(std::span<const TargetSpec> targets, std::string_view field) {
  if (targets.empty()) return invalid(str_cat(field, ": the target list must not be empty"));
  std::set<std::string> seen;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::string name = str_cat(field, "[", i, "]");
    const std::string address = targets[i].address.to_string();
    if (!seen.insert(address).second) {
      return invalid(str_cat(name, ".address: duplicate target \"", address, "\""));
    }
    if (targets[i].connections != 0) {
      if (auto error = validate_connections(targets[i].connections, name + ".connections")) {
        return invalid(*error);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status validate(const LiveConfig& config, std::string_view prefix) {
  if (auto status = check_targets(config.targets, str_cat(prefix, "targets")); !status.ok()) {
    return status;
  }
  if (auto error = validate_connections(config.connections, str_cat(prefix, "connections"))) {
    return invalid(*error);
  }
  if (config.failback_interval < kMinFailbackInterval) {
    return invalid(str_cat(prefix, "failback_interval: ", format_duration(config.failback_interval),
                           " is too short; at least ", format_duration(kMinFailbackInterval)));
  }
  return absl::OkStatus();
}

std::uint64_t total_connections(const LiveConfig& config) {
  std::uint64_t total = 0;
  for (const TargetSpec& t : config.targets) total += config.connections_for(t);
  return total;
}

absl::Status check_limits(const LiveConfig& config, const ConfigLimits& limits,
                          std::string_view prefix) {
  if (config.targets.size() > limits.max_targets) {
    return absl::ResourceExhaustedError(
        str_cat(prefix, "targets: ", config.targets.size(), " targets, more than the limit of ",
                limits.max_targets, " (-max-targets); nothing was changed"));
  }
  if (const std::uint64_t total = total_connections(config); total > limits.max_total_connections) {
    return absl::ResourceExhaustedError(
        str_cat(prefix, "connections: ", config.targets.size(), " targets ask for ", total,
                " connections in all, more than the limit of ", limits.max_total_connections,
                " (-max-total-connections); nothing was changed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LiveConfig> with_target_added(LiveConfig config, TargetSpec target) {
  if (target.connections != 0) {
    if (auto error = validate_connections(target.connections, "target.connections")) {
      return invalid(*error);
    }
  }
  if (config.find(target.address) != nullptr) {
    return invalid(str_cat("target.address: ", quoted(target.address), " is already a target"));
  }
  config.targets.push_back(std::move(target));
  config.config_version.clear();
  return config;
}

absl::StatusOr<LiveConfig> with_target_removed(LiveConfig config, const TargetAddress& address) {
  const TargetSpec* found = config.find(address);
  if (found == nullptr) return invalid(str_cat("address: ", quoted(address), " is not a target"));
  if (config.targets.size() == 1) {
    return invalid(
        str_cat("address: ", quoted(address), " is the last target; set another one first"));
  }
  config.targets.erase(config.targets.begin() + (found - config.targets.data()));
  config.config_version.clear();
  return config;
}

absl::StatusOr<LiveConfig> with_connections(LiveConfig config, std::uint32_t connections,
                                            const std::optional<TargetAddress>& target) {
  if (auto error = validate_connections(connections, "connections")) return invalid(*error);
  config.config_version.clear();
  if (!target) {
    config.connections = connections;
    for (TargetSpec& t : config.targets) t.connections = 0;
    return config;
  }
  auto it = std::find_if(config.targets.begin(), config.targets.end(),
                         [&](const TargetSpec& t) { return t.address == *target; });
  if (it == config.targets.end()) {
    return invalid(str_cat("target: ", quoted(*target), " is not a target"));
  }
  it->connections = connections;
  return config;
}

}  // namespace jsontcplb
