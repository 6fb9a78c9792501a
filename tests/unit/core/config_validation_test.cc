#include "dataplane/core/config_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jsontcplb {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ValidateConnections, RangeIsOneToTheMaximum) {
  EXPECT_FALSE(validate_connections(1, "connections"));
  EXPECT_FALSE(validate_connections(kMaxConnectionsPerTarget, "connections"));
  EXPECT_THAT(validate_connections(0, "connections").value_or(""),
              AllOf(HasSubstr("connections"), HasSubstr("0")));
  EXPECT_TRUE(validate_connections(-3, "connections"));
}

TEST(ParseListenAddress, AllowsPortZero) {
  auto zero = parse_listen_address("127.0.0.1:0");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(zero));
  EXPECT_EQ(std::get<TargetAddress>(zero).port, 0);
  auto v6 = parse_listen_address("[::1]:9001");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(v6));
  EXPECT_EQ(std::get<TargetAddress>(v6).host, "::1");
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_listen_address("9001")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_listen_address("host:99999")));
}

TEST(ParseMetricsAddress, AcceptsIpv4ColonPortAndPortZero) {
  auto any = parse_metrics_address(":9002");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(any));
  EXPECT_EQ(std::get<TargetAddress>(any), (TargetAddress{"0.0.0.0", 9002}));
  auto zero = parse_metrics_address("127.0.0.1:0");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(zero));
  EXPECT_EQ(std::get<TargetAddress>(zero), (TargetAddress{"127.0.0.1", 0}));
  auto local = parse_metrics_address("localhost:9102");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(local));
  EXPECT_EQ(std::get<TargetAddress>(local), (TargetAddress{"127.0.0.1", 9102}));
}

TEST(ParseMetricsAddress, AcceptsIpv6RefusesNamesAndBadPortsWithTheRule) {
  for (const char* bad : {"[::1", "metrics.example:9002", "9002", ":", ":70000", "1.2.3:1"}) {
    auto parsed = parse_metrics_address(bad);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << bad;
    EXPECT_THAT(std::get<std::string>(parsed), HasSubstr(bad));
  }
  auto v6 = parse_metrics_address("[::1]:9002");
  ASSERT_TRUE(std::holds_alternative<TargetAddress>(v6));
  EXPECT_EQ(std::get<TargetAddress>(v6).host, "::1");
}

TEST(IsLoopbackHost, KnowsLoopbackAddresses) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.8.9.10"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.1.2.3"));
  EXPECT_FALSE(is_loopback_host("example.com"));
}

}  // namespace
}  // namespace jsontcplb
