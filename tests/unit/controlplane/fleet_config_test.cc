#include "controlplane/core/fleet_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jsontcplb::controlplane {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr const char* kExample = R"({
  "targets": [
    {"address": "10.0.0.5:5000", "connections": 4},
    {"dns": "receivers.logging.svc.cluster.local:5000"}
  ],
  "connections": 4,
  "failbackInterval": "300s",
  "dataPlanes": [
    {"address": "127.0.0.1:9001"},
    {"dns": "json-tcp-lb-control.logging.svc.cluster.local:9001"}
  ],
  "dnsRefreshInterval": "5s"
})";

std::string error_of(const std::string& json) {
  auto parsed = parse_fleet_config(json);
  return parsed.ok() ? std::string() : std::string(parsed.status().message());
}

TEST(FleetConfig, ParsesTheDocumentedExample) {
  auto parsed = parse_fleet_config(kExample);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->targets_size(), 2);
  EXPECT_EQ(parsed->targets(0).address(), "10.0.0.5:5000");
  EXPECT_EQ(parsed->targets(0).connections(), 4u);
  EXPECT_EQ(parsed->targets(1).dns(), "receivers.logging.svc.cluster.local:5000");
  EXPECT_EQ(parsed->connections(), 4u);
  EXPECT_EQ(parsed->failback_interval().seconds(), 300);
  ASSERT_EQ(parsed->data_planes_size(), 2);
  EXPECT_EQ(dns_refresh_interval(*parsed), std::chrono::seconds(5));
  EXPECT_EQ(entry_text(parsed->targets(1)), "dns:receivers.logging.svc.cluster.local:5000");
  EXPECT_EQ(entry_address(parsed->data_planes(1)).port, 9001);
}

TEST(FleetConfig, DnsRefreshDefaultsToFiveSeconds) {
  auto parsed = parse_fleet_config(
      R"({"targets": [{"address": "a:1"}], "dataPlanes": [{"address": "b:2"}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(dns_refresh_interval(*parsed), kDefaultDnsRefresh);
}

TEST(FleetConfig, UnknownFieldsAndBrokenJsonAreErrorsOnOneLine) {
  EXPECT_THAT(error_of(R"({"targets": [{"adress": "a:1"}], "dataPlanes": [{"address": "b:2"}]})"),
              AllOf(HasSubstr("adress"), HasSubstr("targets[0]")));
  EXPECT_THAT(error_of(R"({"target": []})"), HasSubstr("target"));
  const std::string broken = error_of(R"({"targets": [)");
  EXPECT_FALSE(broken.empty());
  EXPECT_EQ(broken.find('\n'), std::string::npos) << broken;
}

TEST(FleetConfig, RulesNameTheFieldAndTheValue) {
  struct Case {
    const char* json;
    std::vector<std::string> mentions;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"targets": [], "dataPlanes": [{"address": "b:2"}]})", {"targets", "empty"}},
           {R"({"targets": [{}], "dataPlanes": [{"address": "b:2"}]})",
            {"targets[0]", "address", "dns"}},
           {R"({"targets": [{"address": "a:1"}, {"address": "nohost"}],
                "dataPlanes": [{"address": "b:2"}]})",
            {"targets[1].address", "nohost"}},
           {R"({"targets": [{"dns": "a:0"}], "dataPlanes": [{"address": "b:2"}]})",
            {"targets[0].dns", "a:0"}},
           {R"({"targets": [{"address": "a:1"}, {"address": "a:1"}],
                "dataPlanes": [{"address": "b:2"}]})",
            {"targets[1].address", "a:1", "twice"}},
           {R"({"targets": [{"address": "a:1", "connections": 2000}],
                "dataPlanes": [{"address": "b:2"}]})",
            {"targets[0].connections", "2000"}},
           {R"({"targets": [{"address": "a:1"}], "connections": 5000,
                "dataPlanes": [{"address": "b:2"}]})",
            {"connections", "5000"}},
           {R"({"targets": [{"address": "a:1"}], "failbackInterval": "0.001s",
                "dataPlanes": [{"address": "b:2"}]})",
            {"failbackInterval", "1ms", "10ms"}},
           {R"({"targets": [{"address": "a:1"}], "dataPlanes": []})", {"dataPlanes", "empty"}},
           {R"({"targets": [{"address": "a:1"}], "dataPlanes": [{"dns": "x"}]})",
            {"dataPlanes[0].dns", "x"}},
           {R"({"targets": [{"address": "a:1"}], "dataPlanes": [{"address": "b:2"}],
                "dnsRefreshInterval": "0.01s"})",
            {"dnsRefreshInterval", "10ms", "100ms"}}}) {
    const std::string error = error_of(c.json);
    ASSERT_FALSE(error.empty()) << c.json;
    for (const std::string& m : c.mentions) EXPECT_THAT(error, HasSubstr(m)) << c.json;
  }
}

TEST(FleetConfig, TheSameAddressAsAnAddressAndAsADnsNameAreDifferentEntries) {
  auto parsed = parse_fleet_config(R"({"targets": [{"address": "a:1"}, {"dns": "a:1"}],
                                       "dataPlanes": [{"address": "b:2"}]})");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
}

}  // namespace
}  // namespace jsontcplb::controlplane
