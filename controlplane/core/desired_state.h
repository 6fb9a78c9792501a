#pragma once

#include <map>
#include <string>
#include <vector>

#include "controlplane/core/fleet_config.h"
#include "dataplane/core/target_address.h"
#include "jsontcplb/v1/config.pb.h"

namespace jsontcplb::controlplane {

/// The last good answer of each DNS entry, keyed by the entry as written ("name:port"): the
/// addresses of its A/AAAA records with the entry's port, sorted.
using DnsAnswers = std::map<std::string, std::vector<TargetAddress>>;

/// What every data plane should run.
struct Desired {
  /// Targets (DNS resolved, in the order the entries list them, each address once), default
  /// connections, failback interval, and the content-derived config_version.
  v1::DataPlaneConfig config;
  /// DNS target entries without an answer yet (they contribute nothing).
  std::vector<std::string> unresolved;
};

/// The file, the runtime overrides on top of it, and the DNS answers, made one config.
Desired compose(const v1::FleetConfig& file, const v1::FleetOverrides& overrides,
                const DnsAnswers& answers);

/// "cfg-" and 16 hex digits of the SHA-256 of the config's content (its config_version left
/// out): the same content always gives the same version, whoever computes it.
std::string config_version(const v1::DataPlaneConfig& config);

/// The control APIs to configure: fixed addresses and every address DNS gave, each once.
std::vector<TargetAddress> data_plane_addresses(const v1::FleetConfig& file,
                                                const DnsAnswers& answers);

/// The DNS names (as written, "name:port") the file and the overrides need resolved.
std::vector<std::string> dns_names(const v1::FleetConfig& file,
                                   const v1::FleetOverrides& overrides);

}  // namespace jsontcplb::controlplane
