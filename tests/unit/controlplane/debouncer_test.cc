#include "controlplane/core/debouncer.h"

#include <gtest/gtest.h>

namespace jsontcplb::controlplane {
namespace {

using std::chrono::milliseconds;
using Clock = Debouncer::Clock;

TEST(Debouncer, FiresOnceQuietAfterTheLastEvent) {
  Debouncer d(milliseconds(50), milliseconds(500));
  const Clock::time_point t0{};
  EXPECT_FALSE(d.due());
  EXPECT_EQ(d.touch(t0), t0 + milliseconds(50));
  EXPECT_EQ(d.touch(t0 + milliseconds(30)), t0 + milliseconds(80)) << "each event postpones it";
  EXPECT_EQ(d.due(), t0 + milliseconds(80));
  d.fired();
  EXPECT_FALSE(d.due());
}

TEST(Debouncer, AStreamOfEventsCannotPostponeItPastTheMaximum) {
  Debouncer d(milliseconds(50), milliseconds(500));
  const Clock::time_point t0{};
  Clock::time_point due{};
  for (int i = 0; i < 100; ++i) due = d.touch(t0 + milliseconds(20 * i));
  EXPECT_EQ(due, t0 + milliseconds(500));
  d.fired();
  EXPECT_EQ(d.touch(t0 + milliseconds(2000)), t0 + milliseconds(2050)) << "a new burst";
}

}  // namespace
}  // namespace jsontcplb::controlplane
