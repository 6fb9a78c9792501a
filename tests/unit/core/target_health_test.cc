#include "dataplane/core/target_health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <vector>

namespace jsontcplb {
namespace {

using ::testing::Each;
using ::testing::Lt;

// --- TargetHealth ---------------------------------------------------------------------------

TEST(TargetHealthTest, StartsHealthy) {
  TargetHealth health;
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(health.consecutive_failures(), 0);
}

TEST(TargetHealthTest, EjectAfterIsAtLeastOneFailure) {
  EXPECT_GE(TargetHealth::kEjectAfterFailures, 1);
}

TEST(TargetHealthTest, StaysHealthyBelowTheEjectThreshold) {
  TargetHealth health;
  for (int i = 1; i < TargetHealth::kEjectAfterFailures; ++i) {
    health.on_failure();
    EXPECT_TRUE(health.healthy()) << "after " << i << " failures";
  }
  EXPECT_EQ(health.consecutive_failures(), TargetHealth::kEjectAfterFailures - 1);
}

TEST(TargetHealthTest, EjectedAfterConsecutiveFailures) {
  TargetHealth health;
  for (int i = 0; i < TargetHealth::kEjectAfterFailures; ++i) health.on_failure();
  EXPECT_FALSE(health.healthy());
  EXPECT_EQ(health.consecutive_failures(), TargetHealth::kEjectAfterFailures);
  health.on_failure();
  EXPECT_FALSE(health.healthy());
}

TEST(TargetHealthTest, SuccessRestoresAnEjectedTarget) {
  TargetHealth health;
  for (int i = 0; i < TargetHealth::kEjectAfterFailures + 3; ++i) health.on_failure();
  ASSERT_FALSE(health.healthy());
  health.on_success();
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(health.consecutive_failures(), 0);
}

TEST(TargetHealthTest, SuccessResetsTheCountSoFailuresMustBeConsecutive) {
  TargetHealth health;
  for (int round = 0; round < 5; ++round) {
    for (int i = 1; i < TargetHealth::kEjectAfterFailures; ++i) health.on_failure();
    health.on_success();
  }
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(health.consecutive_failures(), 0);
  for (int i = 1; i < TargetHealth::kEjectAfterFailures; ++i) health.on_failure();
  EXPECT_TRUE(health.healthy());
  health.on_failure();
  EXPECT_FALSE(health.healthy());
}

// --- next_target ----------------------------------------------------------------------------

bool AllHealthy(std::size_t) { return true; }
bool NoneHealthy(std::size_t) { return false; }

TEST(NextTargetTest, SpreadPicksSuccessiveOtherTargets) {
  // Four targets, target 1 failed: the others in list order after it are 2, 3, 0.
  EXPECT_EQ(next_target(1, 0, 4, AllHealthy), 2u);
  EXPECT_EQ(next_target(1, 1, 4, AllHealthy), 3u);
  EXPECT_EQ(next_target(1, 2, 4, AllHealthy), 0u);
  EXPECT_EQ(next_target(1, 3, 4, AllHealthy), 2u);  // spread wraps modulo count - 1
  EXPECT_EQ(next_target(1, 4, 4, AllHealthy), 3u);
  EXPECT_EQ(next_target(1, 5, 4, AllHealthy), 0u);
}

TEST(NextTargetTest, SpreadWrapsAroundTheEndOfTheList) {
  EXPECT_EQ(next_target(3, 0, 4, AllHealthy), 0u);
  EXPECT_EQ(next_target(3, 1, 4, AllHealthy), 1u);
  EXPECT_EQ(next_target(3, 2, 4, AllHealthy), 2u);
}

TEST(NextTargetTest, WorkersOfOneTargetFanOutOverAllOthers) {
  for (std::size_t count : {2u, 3u, 5u, 8u}) {
    for (std::size_t failed = 0; failed < count; ++failed) {
      std::set<std::size_t> picked;
      for (std::size_t spread = 0; spread < count - 1; ++spread) {
        std::size_t next = next_target(failed, spread, count, AllHealthy);
        EXPECT_LT(next, count);
        EXPECT_NE(next, failed) << "count " << count << " spread " << spread;
        picked.insert(next);
      }
      EXPECT_EQ(picked.size(), count - 1) << "count " << count << " failed " << failed;
    }
  }
}

TEST(NextTargetTest, LargeSpreadValuesStillWork) {
  EXPECT_EQ(next_target(0, 1000, 3, AllHealthy), 1u);  // 1000 % 2 == 0
  EXPECT_EQ(next_target(0, 1001, 3, AllHealthy), 2u);
  std::size_t huge = static_cast<std::size_t>(-1);  // odd, % 2 == 1
  EXPECT_EQ(next_target(0, huge, 3, AllHealthy), 2u);
}

TEST(NextTargetTest, SkipsUnhealthyTargets) {
  auto healthy = [](std::size_t i) { return i != 2; };
  EXPECT_EQ(next_target(1, 0, 4, healthy), 3u);  // first candidate 2 is unhealthy
  EXPECT_EQ(next_target(1, 1, 4, healthy), 3u);
  EXPECT_EQ(next_target(1, 2, 4, healthy), 0u);
}

TEST(NextTargetTest, SkippingContinuesInListOrderAndWraps) {
  // Target 0 failed, spread 1: candidates are 2, 3, 1 in that order.
  auto only_one = [](std::size_t i) { return i == 1; };
  EXPECT_EQ(next_target(0, 1, 4, only_one), 1u);
  auto only_three = [](std::size_t i) { return i == 3; };
  EXPECT_EQ(next_target(0, 1, 4, only_three), 3u);
  EXPECT_EQ(next_target(0, 0, 4, only_three), 3u);
}

TEST(NextTargetTest, FallsBackToFirstCandidateWhenNoneHealthy) {
  EXPECT_EQ(next_target(0, 0, 4, NoneHealthy), 1u);
  EXPECT_EQ(next_target(0, 1, 4, NoneHealthy), 2u);
  EXPECT_EQ(next_target(2, 1, 4, NoneHealthy), 0u);
}

TEST(NextTargetTest, FailedTargetIsNotChosenEvenIfOnlyItIsHealthy) {
  auto only_failed = [](std::size_t i) { return i == 2; };
  EXPECT_EQ(next_target(2, 0, 4, only_failed), 3u);
  EXPECT_EQ(next_target(2, 2, 4, only_failed), 1u);
}

TEST(NextTargetTest, TwoTargetsAlwaysSwitchToTheOther) {
  for (std::size_t spread = 0; spread < 5; ++spread) {
    EXPECT_EQ(next_target(0, spread, 2, AllHealthy), 1u);
    EXPECT_EQ(next_target(1, spread, 2, AllHealthy), 0u);
    EXPECT_EQ(next_target(0, spread, 2, NoneHealthy), 1u);
  }
}

TEST(NextTargetTest, SingleTargetIsAlwaysChosen) {
  for (std::size_t spread : {0u, 1u, 7u}) {
    EXPECT_EQ(next_target(0, spread, 1, AllHealthy), 0u);
    EXPECT_EQ(next_target(0, spread, 1, NoneHealthy), 0u);
  }
}

TEST(NextTargetTest, AsksAboutHealthOnlyForValidTargets) {
  std::vector<std::size_t> asked;
  auto record = [&asked](std::size_t i) {
    asked.push_back(i);
    return false;
  };
  next_target(3, 2, 5, record);
  next_target(0, 9, 1, record);
  EXPECT_THAT(asked, Each(Lt(5u)));
}

}  // namespace
}  // namespace jsontcplb
