#include "dataplane/core/log_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jsontcplb {
namespace {

using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(LogLimiter, LogsABurstThenCountsAndSummarizesAtTheNextWindow) {
  LogLimiter limiter("client events", 3, seconds(10));
  const auto t0 = LogLimiter::Clock::time_point() + seconds(100);
  std::optional<std::string> summary;
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) {
    if (limiter.allow(t0 + std::chrono::milliseconds(i), summary)) ++allowed;
    EXPECT_FALSE(summary);
  }
  EXPECT_EQ(allowed, 3);
  EXPECT_TRUE(limiter.allow(t0 + seconds(10), summary));
  ASSERT_TRUE(summary);
  EXPECT_THAT(*summary,
              AllOf(HasSubstr("997 more client events"), HasSubstr("10s"), HasSubstr("3 per 10s")));
  // A quiet window after it: nothing to say.
  EXPECT_TRUE(limiter.allow(t0 + seconds(30), summary));
  EXPECT_FALSE(summary);
}

TEST(LogLimiter, FlushReportsAFloodThatStopped) {
  LogLimiter limiter("client events", 1, seconds(10));
  const auto t0 = LogLimiter::Clock::time_point() + seconds(100);
  std::optional<std::string> summary;
  EXPECT_TRUE(limiter.allow(t0, summary));
  EXPECT_FALSE(limiter.allow(t0, summary));
  EXPECT_FALSE(limiter.flush(t0 + seconds(5)));  // the window is not over
  const auto flushed = limiter.flush(t0 + seconds(11));
  ASSERT_TRUE(flushed);
  EXPECT_THAT(*flushed, HasSubstr("1 more client events"));
  EXPECT_FALSE(limiter.flush(t0 + seconds(30)));  // reported once
}

}  // namespace
}  // namespace jsontcplb
