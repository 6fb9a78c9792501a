#include "dataplane/core/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <vector>

namespace jsontcplb {
namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

std::vector<Ms> Draw(Backoff& backoff, int n) {
  std::vector<Ms> out;
  for (int i = 0; i < n; ++i) out.push_back(backoff.next());
  return out;
}

TEST(BackoffTest, FirstDelayIsBetweenHalfInitialAndInitial) {
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    Backoff backoff(100ms, 10s, seed);
    Ms d = backoff.next();
    EXPECT_GE(d, 50ms) << "seed " << seed;
    EXPECT_LE(d, 100ms) << "seed " << seed;
  }
}

TEST(BackoffTest, EachDelayIsWithinHalfCapAndCapWhileGrowing) {
  for (std::uint64_t seed : {1u, 2u, 3u, 42u}) {
    Backoff backoff(100ms, 3000ms, seed);
    Ms cap = 100ms;
    for (int attempt = 0; attempt < 12; ++attempt) {
      Ms d = backoff.next();
      EXPECT_GE(d, cap / 2) << "seed " << seed << " attempt " << attempt;
      EXPECT_LE(d, cap) << "seed " << seed << " attempt " << attempt;
      cap = std::min<Ms>(cap * 2, 3000ms);
    }
  }
}

TEST(BackoffTest, GrowsToMaxAndStaysThere) {
  Backoff backoff(100ms, 3000ms, 5);
  Draw(backoff, 6);  // caps 100, 200, 400, 800, 1600, 3000
  Ms lowest = Ms::max();
  Ms highest = Ms::min();
  for (Ms d : Draw(backoff, 200)) {
    EXPECT_GE(d, 1500ms);
    EXPECT_LE(d, 3000ms);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  // The jitter covers the range rather than sitting at one end of it.
  EXPECT_LT(lowest, 1900ms);
  EXPECT_GT(highest, 2600ms);
}

TEST(BackoffTest, ManyAttemptsNeverOverflow) {
  Backoff backoff(1s, 30s, 11);
  Draw(backoff, 10);
  for (int i = 0; i < 1000; ++i) {
    Ms d = backoff.next();
    ASSERT_GE(d, 15s) << "attempt " << 10 + i;
    ASSERT_LE(d, 30s) << "attempt " << 10 + i;
  }
}

TEST(BackoffTest, InitialEqualToMax) {
  Backoff backoff(2s, 2s, 3);
  for (Ms d : Draw(backoff, 20)) {
    EXPECT_GE(d, 1s);
    EXPECT_LE(d, 2s);
  }
}

TEST(BackoffTest, AttemptsCountsCallsToNext) {
  Backoff backoff(100ms, 1s, 1);
  EXPECT_EQ(backoff.attempts(), 0);
  Draw(backoff, 3);
  EXPECT_EQ(backoff.attempts(), 3);
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0);
}

TEST(BackoffTest, ResetStartsOverFromInitial) {
  Backoff backoff(100ms, 10s, 9);
  Draw(backoff, 10);
  EXPECT_GE(backoff.next(), 5s);
  backoff.reset();
  Ms first = backoff.next();
  EXPECT_GE(first, 50ms);
  EXPECT_LE(first, 100ms);
  Ms second = backoff.next();
  EXPECT_GE(second, 100ms);
  EXPECT_LE(second, 200ms);
}

TEST(BackoffTest, SameSeedGivesSameSequence) {
  Backoff a(100ms, 30s, 1234);
  Backoff b(100ms, 30s, 1234);
  EXPECT_EQ(Draw(a, 50), Draw(b, 50));
}

TEST(BackoffTest, SameSeedGivesSameSequenceAfterReset) {
  Backoff a(100ms, 30s, 77);
  std::vector<Ms> before = Draw(a, 5);
  a.reset();
  Backoff b(100ms, 30s, 77);
  Draw(b, 5);
  b.reset();
  EXPECT_EQ(Draw(a, 20), Draw(b, 20));
  EXPECT_EQ(before.size(), 5u);
}

TEST(BackoffTest, DifferentSeedsGiveDifferentSequences) {
  Backoff a(1s, 30s, 1);
  Backoff b(1s, 30s, 2);
  EXPECT_NE(Draw(a, 30), Draw(b, 30));
}

TEST(BackoffTest, FirstDelaysAreJitteredAcrossWorkers) {
  // Workers seeded differently must not all dial again at the same moment.
  std::set<Ms::rep> firsts;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    Backoff backoff(1s, 30s, seed);
    firsts.insert(backoff.next().count());
  }
  EXPECT_GT(firsts.size(), 10u);
}

}  // namespace
}  // namespace jsontcplb
