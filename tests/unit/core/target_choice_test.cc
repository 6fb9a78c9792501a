#include "dataplane/core/target_choice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <vector>

namespace jsontcplb {
namespace {

using ::testing::Each;
using ::testing::Lt;

// --- next_target: fanning out over the other targets -----------------------------------------

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

// --- choose_target: the failover policy ------------------------------------------------------

// Four targets in the list.
constexpr std::size_t kCount = 4;
constexpr std::optional<std::size_t> kRemoved = std::nullopt;

struct Leaving {
  std::optional<std::size_t> home;
  std::optional<std::size_t> current;
  bool failed = false;
  bool home_ready = false;
  std::size_t spread = 0;
};

std::size_t choose(const Leaving& l, const std::function<bool(std::size_t)>& healthy,
                   std::size_t count = kCount) {
  return choose_target(Placement{.home = l.home,
                                 .current = l.current,
                                 .spread = l.spread,
                                 .failed = l.failed,
                                 .home_ready = l.home_ready},
                       count, healthy);
}

TEST(ChooseTargetTest, AFailureFailsOverFromTheFailedTarget) {
  EXPECT_EQ(choose({.home = 0, .current = 1, .failed = true}, AllHealthy), 2u);
  EXPECT_EQ(choose({.home = 0, .current = 1, .failed = true, .spread = 1}, AllHealthy),
            next_target(1, 1, kCount, AllHealthy));
}

TEST(ChooseTargetTest, AFailureAtHomeFansOutBySpread) {
  std::set<std::size_t> picked;
  for (std::size_t spread = 0; spread < kCount - 1; ++spread) {
    picked.insert(choose({.home = 0, .current = 0, .failed = true, .spread = spread}, AllHealthy));
  }
  EXPECT_EQ(picked, (std::set<std::size_t>{1, 2, 3}));
}

TEST(ChooseTargetTest, AFailureSkipsUnhealthyTargets) {
  auto only_three = [](std::size_t i) { return i == 3; };
  EXPECT_EQ(choose({.home = 0, .current = 0, .failed = true}, only_three), 3u);
}

TEST(ChooseTargetTest, AConnectionHomeThatIsUpWinsOverFailingOver) {
  EXPECT_EQ(choose({.home = 0, .current = 2, .failed = true, .home_ready = true}, AllHealthy), 0u);
  EXPECT_EQ(choose({.home = 0, .current = 2, .failed = true, .home_ready = true}, NoneHealthy), 0u);
}

TEST(ChooseTargetTest, LeavingOnPurposeGoesHome) {
  // A failback, a failed-over-to target that was removed, or a requested failback.
  EXPECT_EQ(choose({.home = 0, .current = 2}, AllHealthy), 0u);
  EXPECT_EQ(choose({.home = 1, .current = kRemoved}, AllHealthy), 1u);
  EXPECT_EQ(choose({.home = 3, .current = 2, .home_ready = true}, NoneHealthy), 3u);
}

TEST(ChooseTargetTest, AFailedTargetThatIsNoLongerListedSendsTheWorkerHome) {
  EXPECT_EQ(choose({.home = 2, .current = kRemoved, .failed = true}, AllHealthy), 2u);
}

TEST(ChooseTargetTest, WithoutAListedHomeItFailsOverOrStays) {
  EXPECT_EQ(choose({.home = kRemoved, .current = 1, .failed = true}, AllHealthy), 2u);
  EXPECT_EQ(choose({.home = kRemoved, .current = 1}, AllHealthy), 1u);
  EXPECT_EQ(choose({.home = kRemoved, .current = kRemoved}, AllHealthy), 0u);
}

TEST(ChooseTargetTest, AlwaysAnIndexBelowTheCount) {
  for (std::size_t count = 1; count <= 5; ++count) {
    for (std::size_t home = 0; home < count; ++home) {
      for (std::size_t current = 0; current < count; ++current) {
        for (bool failed : {false, true}) {
          for (bool ready : {false, true}) {
            const Leaving l{home, current, failed, ready, home + current};
            EXPECT_LT(choose(l, NoneHealthy, count), count);
            EXPECT_LT(choose(l, AllHealthy, count), count);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace jsontcplb
