#include "controlplane/core/desired_state.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "controlplane/core/fleet_config.h"

namespace jsontcplb::controlplane {
namespace {

v1::FleetConfig config(const char* json) {
  auto parsed = parse_fleet_config(json);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.value_or(v1::FleetConfig());
}

std::vector<std::string> addresses(const v1::DataPlaneConfig& c) {
  std::vector<std::string> out;
  for (const auto& t : c.targets()) out.push_back(t.address());
  return out;
}

constexpr const char* kMixed = R"({
  "targets": [{"address": "10.0.0.5:5000", "connections": 4},
              {"dns": "receivers:5000", "connections": 2},
              {"address": "10.0.0.6:5000"}],
  "connections": 3,
  "failbackInterval": "60s",
  "dataPlanes": [{"address": "127.0.0.1:9001"}, {"dns": "planes:9001"}]})";

TEST(Compose, DnsEntriesBecomeOneTargetPerRecordInTheirPlace) {
  const DnsAnswers answers = {{"receivers:5000", {{"10.1.0.1", 5000}, {"::1", 5000}}}};
  const Desired d = compose(config(kMixed), v1::FleetOverrides(), answers);
  EXPECT_EQ(addresses(d.config), (std::vector<std::string>{"10.0.0.5:5000", "10.1.0.1:5000",
                                                           "[::1]:5000", "10.0.0.6:5000"}));
  EXPECT_EQ(d.config.targets(0).connections(), 4u);
  EXPECT_EQ(d.config.targets(1).connections(), 2u);
  EXPECT_EQ(d.config.targets(2).connections(), 2u);
  EXPECT_EQ(d.config.targets(3).connections(), 0u);
  EXPECT_EQ(d.config.connections(), 3u);
  EXPECT_EQ(d.config.failback_interval().seconds(), 60);
  EXPECT_TRUE(d.unresolved.empty());
}

TEST(Compose, AnUnresolvedNameIsLeftOutAndReported) {
  const Desired d = compose(config(kMixed), v1::FleetOverrides(), {});
  EXPECT_EQ(addresses(d.config), (std::vector<std::string>{"10.0.0.5:5000", "10.0.0.6:5000"}));
  EXPECT_EQ(d.unresolved, std::vector<std::string>{"receivers:5000"});
}

TEST(Compose, AnAddressGivenTwiceIsOneTarget) {
  const DnsAnswers answers = {{"receivers:5000", {{"10.0.0.6", 5000}}}};
  const Desired d = compose(config(kMixed), v1::FleetOverrides(), answers);
  EXPECT_EQ(addresses(d.config), (std::vector<std::string>{"10.0.0.5:5000", "10.0.0.6:5000"}));
}

TEST(Compose, OverridesReplaceTheFilesFields) {
  v1::FleetOverrides o;
  o.mutable_targets()->add_targets()->set_address("10.9.9.9:1");
  o.set_connections(7);
  *o.mutable_failback_interval() = google::protobuf::util::TimeUtil::SecondsToDuration(9);
  const Desired d = compose(config(kMixed), o, {});
  EXPECT_EQ(addresses(d.config), std::vector<std::string>{"10.9.9.9:1"});
  EXPECT_EQ(d.config.connections(), 7u);
  EXPECT_EQ(d.config.failback_interval().seconds(), 9);
}

TEST(ConfigVersion, FollowsTheContentOnly) {
  const DnsAnswers answers = {{"receivers:5000", {{"10.1.0.1", 5000}}}};
  const Desired a = compose(config(kMixed), v1::FleetOverrides(), answers);
  const Desired b = compose(config(kMixed), v1::FleetOverrides(), answers);
  EXPECT_EQ(a.config.config_version(), b.config.config_version());
  EXPECT_EQ(a.config.config_version().rfind("cfg-", 0), 0u);
  EXPECT_EQ(a.config.config_version().size(), 4u + 16u);
  EXPECT_EQ(config_version(a.config), a.config.config_version()) << "the version itself is ignored";
  const DnsAnswers other = {{"receivers:5000", {{"10.1.0.2", 5000}}}};
  EXPECT_NE(compose(config(kMixed), v1::FleetOverrides(), other).config.config_version(),
            a.config.config_version());
  v1::DataPlaneConfig more = a.config;
  more.set_connections(more.connections() + 1);
  EXPECT_NE(config_version(more), a.config.config_version());
}

TEST(DataPlanes, FixedAndResolvedEachOnce) {
  const DnsAnswers answers = {{"planes:9001", {{"127.0.0.1", 9001}, {"10.2.0.1", 9001}}}};
  const auto planes = data_plane_addresses(config(kMixed), answers);
  ASSERT_EQ(planes.size(), 2u);
  EXPECT_EQ(planes[0].to_string(), "127.0.0.1:9001");
  EXPECT_EQ(planes[1].to_string(), "10.2.0.1:9001");
}

TEST(DnsNames, OfTheTargetsInForceAndTheDataPlanes) {
  EXPECT_EQ(dns_names(config(kMixed), v1::FleetOverrides()),
            (std::vector<std::string>{"planes:9001", "receivers:5000"}));
  v1::FleetOverrides o;
  o.mutable_targets()->add_targets()->set_dns("other:1");
  EXPECT_EQ(dns_names(config(kMixed), o), (std::vector<std::string>{"other:1", "planes:9001"}));
}

}  // namespace
}  // namespace jsontcplb::controlplane
