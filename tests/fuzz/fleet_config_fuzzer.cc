// lb-controlplane's config file: parse_fleet_config on any text.
//
// Properties: no crash; a refusal is INVALID_ARGUMENT with a message; an accepted config
// validates again, and so does its own JSON printed and parsed back; every entry of it has an
// address (entry_address does not throw); and the DataPlaneConfig the control plane composes
// from it (no overrides, no DNS answers yet) is one a data plane's SetTargets accepts, so a
// config the control plane takes is never one every data plane refuses.

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/core/desired_state.h"
#include "controlplane/core/fleet_config.h"
#include "dataplane/core/live_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace cp = jsontcplb::controlplane;
namespace v1 = jsontcplb::v1;

std::string text_of(const absl::Status& status) { return std::string(status.message()); }

// What the data plane's SetTargets does with a pushed config (dataplane/control_server.cc).
absl::Status data_plane_accepts(const v1::DataPlaneConfig& config) {
  std::vector<jsontcplb::RequestedTarget> requested;
  for (const v1::Target& t : config.targets()) requested.push_back({t.address(), t.connections()});
  auto targets = jsontcplb::parse_targets(requested, "config.targets");
  if (!targets.ok()) return targets.status();
  jsontcplb::LiveConfig next;
  next.targets = *std::move(targets);
  if (config.connections() != 0) next.connections = config.connections();
  if (config.has_failback_interval()) {
    next.failback_interval = std::chrono::milliseconds(
        google::protobuf::util::TimeUtil::DurationToMilliseconds(config.failback_interval()));
  }
  return jsontcplb::validate(next, "config.");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto parsed = cp::parse_fleet_config(json);
  if (!parsed.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(parsed.status()), text_of(parsed.status()));
    FUZZ_CHECK(!parsed.status().message().empty(), "a refusal needs a message");
    return 0;
  }
  const v1::FleetConfig& config = *parsed;
  const absl::Status again = cp::validate_fleet_config(config);
  FUZZ_CHECK(again.ok(), "an accepted config does not validate again: " + text_of(again));

  std::string printed;
  FUZZ_CHECK(google::protobuf::util::MessageToJsonString(config, &printed).ok(), "printing");
  auto reparsed = cp::parse_fleet_config(printed);
  FUZZ_CHECK(reparsed.ok(),
             "its own JSON is refused: " + text_of(reparsed.status()) + " in " + printed);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*reparsed, config),
             "its own JSON parses to another config: " + printed);

  for (const v1::FleetTarget& target : config.targets()) (void)cp::entry_address(target);
  for (const v1::DataPlaneSource& source : config.data_planes()) (void)cp::entry_address(source);
  FUZZ_CHECK(cp::dns_refresh_interval(config) >= cp::kMinDnsRefresh, "dnsRefreshInterval");

  const cp::Desired desired = cp::compose(config, v1::FleetOverrides(), cp::DnsAnswers());
  // An empty list (only DNS entries, none answered yet) is never pushed.
  if (desired.config.targets_size() > 0) {
    const absl::Status pushed = data_plane_accepts(desired.config);
    FUZZ_CHECK(pushed.ok(), "a data plane refuses the composed config: " + text_of(pushed) +
                                " from " + std::string(json));
  }
  (void)cp::data_plane_addresses(config, cp::DnsAnswers());
  return 0;
}
