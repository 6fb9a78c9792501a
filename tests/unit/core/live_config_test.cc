#include "dataplane/core/live_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dataplane/core/config_validation.h"
#include "dataplane/core/options.h"
#include "tests/unit/core/test_printers.h"

namespace jsontcplb {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// --- parse_targets: a target list as the control API receives it ------------------------------

std::string error_of(const std::vector<RequestedTarget>& targets) {
  auto result = parse_targets(targets);
  return result.ok() ? std::string() : std::string(result.status().message());
}

TEST(ParseTargets, AcceptsAListWithPerTargetConnections) {
  auto result = parse_targets({{"127.0.0.1:9999", 0}, {"[::1]:9998", 3}, {"logs.example:1", 0}});
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& targets = *result;
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[1].address.host, "::1");
  EXPECT_EQ(targets[1].connections, 3u);
  EXPECT_EQ(targets[2].address.port, 1);
}

TEST(ParseTargets, RefusesAnEmptyList) {
  EXPECT_THAT(error_of({}), AllOf(HasSubstr("targets"), HasSubstr("empty")));
}

TEST(ParseTargets, NamesTheFieldAndValueOfABadAddress) {
  EXPECT_THAT(error_of({{"127.0.0.1:1", 0}, {"host:0", 0}}),
              AllOf(HasSubstr("targets[1].address"), HasSubstr("host:0"), HasSubstr("1 to 65535")));
  EXPECT_THAT(error_of({{"host:65536", 0}}), HasSubstr("host:65536"));
  EXPECT_THAT(error_of({{"nohost", 0}}),
              AllOf(HasSubstr("targets[0].address"), HasSubstr("nohost")));
}

TEST(ParseTargets, RefusesDuplicatesEvenWhenSpelledDifferently) {
  EXPECT_THAT(error_of({{"[::1]:5", 0}, {"[::1]:5", 0}}),
              AllOf(HasSubstr("targets[1].address"), HasSubstr("duplicate")));
}

TEST(ParseTargets, ChecksConnectionsPerTarget) {
  EXPECT_THAT(error_of({{"a:1", kMaxConnectionsPerTarget + 1}}),
              AllOf(HasSubstr("targets[0].connections"), HasSubstr("1025")));
  EXPECT_EQ(error_of({{"a:1", kMaxConnectionsPerTarget}}), "");
}

// --- validate: every rule a whole config must meet --------------------------------------------

LiveConfig two_targets() {
  LiveConfig config;
  config.targets = {{{"127.0.0.1", 5000}, 0}, {{"127.0.0.1", 5001}, 2}};
  config.connections = 4;
  return config;
}

std::string message(const absl::Status& status) { return std::string(status.message()); }

TEST(ValidateConfig, AcceptsAGoodConfig) { EXPECT_TRUE(validate(two_targets()).ok()); }

TEST(ValidateConfig, NamesTheFieldWithThePrefix) {
  LiveConfig config = two_targets();
  config.targets.clear();
  EXPECT_THAT(message(validate(config, "config.")),
              AllOf(HasSubstr("config.targets"), HasSubstr("empty")));
  config = two_targets();
  config.connections = 0;
  EXPECT_THAT(message(validate(config, "config.")),
              AllOf(HasSubstr("config.connections"), HasSubstr("0")));
  config.connections = kMaxConnectionsPerTarget + 1;
  EXPECT_THAT(message(validate(config)), HasSubstr("1025"));
  config = two_targets();
  config.targets[1].connections = 5000;
  EXPECT_THAT(message(validate(config)),
              AllOf(HasSubstr("targets[1].connections"), HasSubstr("5000")));
  config = two_targets();
  config.targets[1] = config.targets[0];
  EXPECT_THAT(
      message(validate(config)),
      AllOf(HasSubstr("targets[1].address"), HasSubstr("duplicate"), HasSubstr("127.0.0.1:5000")));
}

TEST(ValidateConfig, FailbackIntervalHasAFloor) {
  LiveConfig config = two_targets();
  config.failback_interval = kMinFailbackInterval;
  EXPECT_TRUE(validate(config).ok());
  config.failback_interval = std::chrono::milliseconds(9);
  const absl::Status status = validate(config, "config.");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message(status),
              AllOf(HasSubstr("config.failback_interval"), HasSubstr("9ms"), HasSubstr("10ms")));
  config.failback_interval = std::chrono::milliseconds(-1);
  EXPECT_FALSE(validate(config).ok());
}

TEST(CheckLimits, CountsEveryTargetsConnections) {
  LiveConfig config = two_targets();  // 4 (the default) + 2
  EXPECT_EQ(total_connections(config), 6u);
  EXPECT_TRUE(check_limits(config, {.max_targets = 2, .max_total_connections = 6}).ok());
  const absl::Status status =
      check_limits(config, {.max_targets = 2, .max_total_connections = 5}, "config.");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(message(status), AllOf(HasSubstr("config.connections"), HasSubstr("6 connections"),
                                     HasSubstr("5"), HasSubstr("-max-total-connections")));
}

TEST(CheckLimits, BoundsTheTargetList) {
  LiveConfig config = two_targets();
  const absl::Status status =
      check_limits(config, {.max_targets = 1, .max_total_connections = 100});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(message(status),
              AllOf(HasSubstr("2 targets"), HasSubstr("limit of 1"), HasSubstr("-max-targets")));
}

TEST(CheckLimits, TheDefaultsRefuseWhatOnceWedgedTheDataPlane) {
  // 2,000 targets with 1,024 connections each: about two million workers.
  LiveConfig config;
  for (std::uint16_t port = 1; port <= 2000; ++port) {
    config.targets.push_back({{"10.0.0.1", port}, kMaxConnectionsPerTarget});
  }
  EXPECT_TRUE(validate(config).ok());
  EXPECT_EQ(check_limits(config, ConfigLimits{}).code(), absl::StatusCode::kResourceExhausted);
  config.targets.resize(ConfigLimits{}.max_targets);
  EXPECT_THAT(message(check_limits(config, ConfigLimits{})), HasSubstr("524288 connections"));
}

TEST(LiveConfigTest, FromOptionsIsTheCommandLine) {
  Options options;
  options.targets = {{"a", 1}, {"b", 2}};
  options.connections = 3;
  options.failback_interval = std::chrono::seconds(7);
  const LiveConfig config = LiveConfig::from_options(options);
  ASSERT_EQ(config.targets.size(), 2u);
  EXPECT_EQ(config.targets[1].address, (TargetAddress{"b", 2}));
  EXPECT_EQ(config.targets[1].connections, 0u) << "every target uses the default";
  EXPECT_EQ(config.connections, 3u);
  EXPECT_EQ(config.failback_interval, std::chrono::seconds(7));
  EXPECT_TRUE(validate(config).ok());
  EXPECT_EQ(config.connections_for(config.targets[0]), 3u);
}

TEST(LiveConfigTest, ConnectionsForATargetOverrideTheDefault) {
  const LiveConfig config = two_targets();
  EXPECT_EQ(config.connections_for(config.targets[0]), 4u);
  EXPECT_EQ(config.connections_for(config.targets[1]), 2u);
  EXPECT_EQ(config.find({"127.0.0.1", 5001}), &config.targets[1]);
  EXPECT_EQ(config.find({"127.0.0.1", 5002}), nullptr);
}

// --- edits behind AddTarget, RemoveTarget and SetConnections ----------------------------------

TEST(EditConfig, AddingATargetAppendsIt) {
  auto next = with_target_added(two_targets(), {{"::1", 7}, 3});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->targets.size(), 3u);
  EXPECT_EQ(next->targets[2], (TargetSpec{{"::1", 7}, 3}));
  EXPECT_TRUE(validate(*next).ok());
}

TEST(EditConfig, AddingRefusesADuplicateOrBadConnections) {
  auto duplicate = with_target_added(two_targets(), {{"127.0.0.1", 5001}, 0});
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message(duplicate.status()),
              AllOf(HasSubstr("target.address"), HasSubstr("127.0.0.1:5001"),
                    HasSubstr("already a target")));
  auto too_many = with_target_added(two_targets(), {{"127.0.0.1", 1}, 2000});
  EXPECT_THAT(message(too_many.status()),
              AllOf(HasSubstr("target.connections"), HasSubstr("2000")));
}

TEST(EditConfig, RemovingATargetKeepsTheOthersInOrder) {
  LiveConfig config = two_targets();
  config.targets.push_back({{"127.0.0.1", 5002}, 0});
  auto next = with_target_removed(config, {"127.0.0.1", 5001});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->targets.size(), 2u);
  EXPECT_EQ(next->targets[0].address.port, 5000);
  EXPECT_EQ(next->targets[1].address.port, 5002);
}

TEST(EditConfig, RemovingRefusesAnUnknownOrTheLastTarget) {
  auto unknown = with_target_removed(two_targets(), {"127.0.0.1", 1});
  EXPECT_THAT(message(unknown.status()),
              AllOf(HasSubstr("address"), HasSubstr("127.0.0.1:1"), HasSubstr("not a target")));
  auto one = with_target_removed(two_targets(), {"127.0.0.1", 5000});
  ASSERT_TRUE(one.ok());
  auto last = with_target_removed(*one, {"127.0.0.1", 5001});
  EXPECT_EQ(last.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message(last.status()), HasSubstr("last target"));
}

TEST(EditConfig, ConnectionsForEveryTargetReplaceTheDefaultAndPerTargetValues) {
  auto next = with_connections(two_targets(), 6, std::nullopt);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->connections, 6u);
  for (const TargetSpec& t : next->targets) EXPECT_EQ(next->connections_for(t), 6u);
}

TEST(EditConfig, ConnectionsForOneTargetLeaveTheRest) {
  auto next = with_connections(two_targets(), 9, TargetAddress{"127.0.0.1", 5000});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->connections, 4u);
  EXPECT_EQ(next->connections_for(next->targets[0]), 9u);
  EXPECT_EQ(next->connections_for(next->targets[1]), 2u);
}

TEST(EditConfig, ConnectionsAreRangeCheckedAndTheTargetMustExist) {
  EXPECT_THAT(message(with_connections(two_targets(), 0, std::nullopt).status()),
              AllOf(HasSubstr("connections"), HasSubstr("0")));
  EXPECT_THAT(message(with_connections(two_targets(), 1025, std::nullopt).status()),
              HasSubstr("1025"));
  EXPECT_THAT(message(with_connections(two_targets(), 2, TargetAddress{"x", 1}).status()),
              AllOf(HasSubstr("target"), HasSubstr("x:1"), HasSubstr("not a target")));
}

TEST(EditConfig, EveryEditClearsThePushersVersion) {
  LiveConfig config = two_targets();
  config.config_version = "cfg-1";
  EXPECT_EQ(with_target_added(config, {{"127.0.0.1", 9}, 0})->config_version, "");
  EXPECT_EQ(with_target_removed(config, {"127.0.0.1", 5000})->config_version, "");
  EXPECT_EQ(with_connections(config, 3, std::nullopt)->config_version, "");
  EXPECT_EQ(with_connections(config, 3, TargetAddress{"127.0.0.1", 5001})->config_version, "");
}

}  // namespace
}  // namespace jsontcplb
