#include "controlplane/core/desired_state.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/sha.h>

#include <set>

#include "controlplane/core/overrides.h"

namespace jsontcplb::controlplane {
namespace {

template <typename Entry>
void append_resolved(const Entry& entry, const DnsAnswers& answers, std::vector<TargetAddress>& out,
                     std::vector<std::string>* unresolved) {
  if (!entry.has_dns()) {
    out.push_back(entry_address(entry));
    return;
  }
  auto it = answers.find(entry.dns());
  if (it == answers.end() || it->second.empty()) {
    if (unresolved != nullptr) unresolved->push_back(entry.dns());
    return;
  }
  out.insert(out.end(), it->second.begin(), it->second.end());
}

}  // namespace

Desired compose(const v1::FleetConfig& file, const v1::FleetOverrides& overrides,
                const DnsAnswers& answers) {
  Desired desired;
  v1::DataPlaneConfig& config = desired.config;
  std::set<std::string> seen;
  for (const v1::FleetTarget& entry : effective_targets(file, overrides)) {
    std::vector<TargetAddress> addresses;
    append_resolved(entry, answers, addresses, &desired.unresolved);
    for (const TargetAddress& address : addresses) {
      std::string text = address.to_string();
      if (!seen.insert(text).second) continue;
      v1::Target& target = *config.add_targets();
      target.set_address(std::move(text));
      target.set_connections(entry.connections());
    }
  }
  config.set_connections(overrides.has_connections() ? overrides.connections()
                                                     : file.connections());
  if (overrides.has_failback_interval()) {
    *config.mutable_failback_interval() = overrides.failback_interval();
  } else if (file.has_failback_interval()) {
    *config.mutable_failback_interval() = file.failback_interval();
  }
  config.set_config_version(config_version(config));
  return desired;
}

std::string config_version(const v1::DataPlaneConfig& config) {
  v1::DataPlaneConfig content = config;
  content.clear_config_version();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    content.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string version = "cfg-";
  for (int i = 0; i < 8; ++i) {
    version.push_back(kHex[digest[i] >> 4]);
    version.push_back(kHex[digest[i] & 0xf]);
  }
  return version;
}

std::vector<TargetAddress> data_plane_addresses(const v1::FleetConfig& file,
                                                const DnsAnswers& answers) {
  std::vector<TargetAddress> all;
  for (const v1::DataPlaneSource& source : file.data_planes()) {
    append_resolved(source, answers, all, nullptr);
  }
  std::vector<TargetAddress> out;
  std::set<std::string> seen;
  for (TargetAddress& address : all) {
    if (seen.insert(address.to_string()).second) out.push_back(std::move(address));
  }
  return out;
}

std::vector<std::string> dns_names(const v1::FleetConfig& file,
                                   const v1::FleetOverrides& overrides) {
  std::set<std::string> names;
  for (const v1::FleetTarget& t : effective_targets(file, overrides)) {
    if (t.has_dns()) names.insert(t.dns());
  }
  for (const v1::DataPlaneSource& s : file.data_planes()) {
    if (s.has_dns()) names.insert(s.dns());
  }
  return {names.begin(), names.end()};
}

}  // namespace jsontcplb::controlplane
