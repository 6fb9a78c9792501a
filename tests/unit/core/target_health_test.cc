#include "dataplane/core/target_health.h"

#include <gtest/gtest.h>

namespace jsontcplb {
namespace {

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

}  // namespace
}  // namespace jsontcplb
