#include "controlplane/core/overrides.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

namespace jsontcplb::controlplane {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

v1::FleetConfig file_with(std::vector<std::string> addresses, std::uint32_t connections = 4) {
  v1::FleetConfig f;
  for (const auto& a : addresses) f.add_targets()->set_address(a);
  f.set_connections(connections);
  f.add_data_planes()->set_address("127.0.0.1:9001");
  return f;
}

std::vector<std::string> in_force(const v1::FleetConfig& f, const v1::FleetOverrides& o) {
  std::vector<std::string> out;
  for (const auto& t : effective_targets(f, o)) out.push_back(entry_text(t));
  return out;
}

v1::FleetTarget address(const std::string& a) {
  v1::FleetTarget t;
  t.set_address(a);
  return t;
}

TEST(Overrides, AddAndRemoveWorkOnTheTargetsInForce) {
  const v1::FleetConfig file = file_with({"a:1", "b:1"});
  v1::FleetOverrides o;
  ASSERT_TRUE(add_target(o, file, address("c:1")).ok());
  v1::FleetTarget dns;
  dns.set_dns("d:1");
  ASSERT_TRUE(add_target(o, file, dns).ok());
  EXPECT_EQ(in_force(file, o), (std::vector<std::string>{"a:1", "b:1", "c:1", "dns:d:1"}));
  ASSERT_TRUE(remove_target(o, file, "a:1").ok());
  ASSERT_TRUE(remove_target(o, file, "dns:d:1").ok());
  EXPECT_EQ(in_force(file, o), (std::vector<std::string>{"b:1", "c:1"}));
}

TEST(Overrides, RefusalsChangeNothingAndNameTheValue) {
  const v1::FleetConfig file = file_with({"a:1"});
  v1::FleetOverrides o;
  const v1::FleetOverrides before = o;
  EXPECT_THAT(std::string(add_target(o, file, address("a:1")).message()), HasSubstr("already"));
  EXPECT_THAT(std::string(add_target(o, file, address("nohost")).message()), HasSubstr("nohost"));
  EXPECT_THAT(std::string(remove_target(o, file, "x:1").message()), HasSubstr("x:1"));
  EXPECT_THAT(std::string(remove_target(o, file, "a:1").message()), HasSubstr("last target"));
  EXPECT_THAT(std::string(override_connections(o, file, 0).message()), HasSubstr("0"));
  EXPECT_THAT(
      std::string(
          override_failback_interval(o, file, TimeUtil::MillisecondsToDuration(1)).message()),
      HasSubstr("10ms"));
  FleetTargets empty;
  EXPECT_THAT(std::string(override_targets(o, file, empty).message()), HasSubstr("empty"));
  EXPECT_EQ(o.SerializeAsString(), before.SerializeAsString());
}

TEST(Overrides, AFileChangeOfAnOverriddenFieldWins) {
  v1::FleetConfig file = file_with({"a:1"}, 4);
  v1::FleetOverrides o;
  ASSERT_TRUE(add_target(o, file, address("b:1")).ok());
  ASSERT_TRUE(override_connections(o, file, 8).ok());
  ASSERT_TRUE(override_failback_interval(o, file, TimeUtil::SecondsToDuration(9)).ok());

  // The file changes something else: every override stays.
  v1::FleetConfig same_fields = file;
  same_fields.add_data_planes()->set_address("127.0.0.1:9002");
  EXPECT_TRUE(drop_overrides_the_file_changed(o, same_fields).empty());
  EXPECT_TRUE(o.has_targets());

  // The file changes its connections: that override goes, the others stay.
  v1::FleetConfig connections_changed = file;
  connections_changed.set_connections(2);
  auto dropped = drop_overrides_the_file_changed(o, connections_changed);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_THAT(dropped[0], HasSubstr("connections"));
  EXPECT_FALSE(o.has_connections());
  EXPECT_TRUE(o.has_targets());
  EXPECT_TRUE(o.has_failback_interval());

  // Then its targets and its failback interval (which the file did not have before).
  v1::FleetConfig all_changed = connections_changed;
  all_changed.add_targets()->set_address("z:1");
  *all_changed.mutable_failback_interval() = TimeUtil::SecondsToDuration(1);
  EXPECT_EQ(drop_overrides_the_file_changed(o, all_changed).size(), 2u);
  EXPECT_EQ(in_force(all_changed, o), (std::vector<std::string>{"a:1", "z:1"}));
  EXPECT_FALSE(o.has_failback_interval());
}

}  // namespace
}  // namespace jsontcplb::controlplane
