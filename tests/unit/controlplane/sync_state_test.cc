#include "controlplane/core/sync_state.h"

#include <gtest/gtest.h>

namespace jsontcplb::controlplane {
namespace {

using State = SyncState::State;
using Result = SyncState::PushResult;

TEST(SyncState, UnreachableUntilTheFirstStatus) {
  SyncState s;
  s.set_desired("cfg-a");
  EXPECT_EQ(s.state(), State::kUnreachable);
  EXPECT_FALSE(s.should_push());
  s.reported("", 1);
  EXPECT_EQ(s.state(), State::kPending);
  EXPECT_TRUE(s.should_push());
}

TEST(SyncState, PushesWhenTheReportedVersionDiffersAndOneAtATime) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-old", 4);
  ASSERT_TRUE(s.should_push());
  s.push_started();
  EXPECT_EQ(s.generation(), 4u);
  EXPECT_FALSE(s.should_push()) << "one push in flight";
  s.reported("cfg-old", 4);
  EXPECT_FALSE(s.should_push());
  s.push_finished(Result::kOk, "", 5);
  EXPECT_EQ(s.state(), State::kSynced);
  EXPECT_EQ(s.reported_version(), "cfg-a");
  EXPECT_EQ(s.generation(), 5u);
  EXPECT_FALSE(s.should_push());
  EXPECT_EQ(s.pushes(), 1u);
}

TEST(SyncState, NothingToPushWithoutADesiredConfigOrWhenInSync) {
  SyncState s;
  s.reported("cfg-x", 1);
  EXPECT_FALSE(s.should_push());
  s.set_desired("cfg-x");
  EXPECT_EQ(s.state(), State::kSynced);
  EXPECT_FALSE(s.should_push());
}

TEST(SyncState, ARefusedVersionIsNotPushedAgainUntilTheDesiredStateChanges) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-old", 1);
  s.push_started();
  s.push_finished(Result::kRejected, "refused: too many connections", 0);
  EXPECT_EQ(s.state(), State::kRejected);
  EXPECT_EQ(s.last_error(), "refused: too many connections");
  for (int i = 0; i < 100; ++i) {
    s.reported("cfg-old", 1);  // every status is a chance to resend: none is taken
    EXPECT_FALSE(s.should_push());
  }
  EXPECT_EQ(s.pushes(), 1u);
  s.set_desired("cfg-b");
  EXPECT_TRUE(s.should_push());
  EXPECT_EQ(s.state(), State::kPending);
}

TEST(SyncState, AFailedPushWaitsForTheBackoff) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-old", 1);
  s.push_started();
  s.push_finished(Result::kFailed, "push: UNAVAILABLE", 0);
  EXPECT_EQ(s.state(), State::kPending);
  EXPECT_FALSE(s.should_push());
  s.reported("cfg-old", 1);
  EXPECT_FALSE(s.should_push()) << "a status does not cut the backoff short";
  s.retry_allowed();
  EXPECT_TRUE(s.should_push());
}

TEST(SyncState, ALostCompareAndSetWaitsForTheNewGeneration) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-old", 1);
  s.push_started();
  s.push_finished(Result::kConflict, "expected_generation 1 does not match", 0);
  EXPECT_FALSE(s.should_push());
  s.reported("", 2);  // someone changed it meanwhile
  EXPECT_TRUE(s.should_push());
  EXPECT_EQ(s.generation(), 2u);
}

TEST(SyncState, ADesiredChangeDuringAPushIsPushedNext) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-old", 1);
  s.push_started();
  s.set_desired("cfg-b");
  s.push_finished(Result::kOk, "", 2);
  EXPECT_EQ(s.reported_version(), "cfg-a") << "the data plane runs what was pushed";
  EXPECT_EQ(s.state(), State::kPending);
  EXPECT_TRUE(s.should_push());
}

TEST(SyncState, DisconnectingKeepsWhatWasKnown) {
  SyncState s;
  s.set_desired("cfg-a");
  s.reported("cfg-a", 3);
  s.disconnected("UNAVAILABLE: connection refused");
  EXPECT_EQ(s.state(), State::kUnreachable);
  EXPECT_EQ(s.last_error(), "UNAVAILABLE: connection refused");
  EXPECT_FALSE(s.should_push());
  s.reported("cfg-a", 3);
  EXPECT_EQ(s.state(), State::kSynced);
  EXPECT_TRUE(s.last_error().empty());
}

}  // namespace
}  // namespace jsontcplb::controlplane
