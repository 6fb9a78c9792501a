#include "dataplane/target_set.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/target.h"
#include "tests/tools/sink.h"
#include "tests/unit/dataplane/io_rig.h"

namespace jsontcplb {
namespace {

using ::testing::HasSubstr;
using testing::IoRig;

TargetAddress at(std::uint16_t port) { return {"127.0.0.1", port}; }

// A target set with its workers against three loopback sink ports.
class TargetSetTest : public ::testing::Test {
 protected:
  TargetSetTest()
      : sink_([] {
          lbtest::SinkOptions o;
          o.ports = 3;
          return o;
        }()) {}

  LiveConfig config(std::vector<std::size_t> sink_indexes, std::uint32_t connections = 2) const {
    LiveConfig c;
    for (std::size_t i : sink_indexes) c.targets.push_back({at(sink_.ports()[i]), 0});
    c.connections = connections;
    return c;
  }
  void start(LiveConfig initial) {
    set_ = std::make_shared<TargetSet>(rig_.io.get_executor(), std::move(initial),
                                       rig_.env(IoRig::loopback_dialer()));
    set_->start();
  }
  // Waits until the sinks hold exactly these connections per port.
  bool connections_are(std::vector<std::size_t> wanted) {
    return rig_.run_until([&] {
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (sink_.connections(i) != wanted[i]) return false;
      }
      return true;
    });
  }
  Snapshot snapshot() const {
    Snapshot s;
    set_->fill(s);
    return s;
  }
  bool any_series_for(const std::string& target) const {
    for (const auto& family : rig_.stats->registry()->Collect()) {
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "target" && label.value == target) return true;
        }
      }
    }
    return false;
  }

  lbtest::Sink sink_;
  IoRig rig_;
  std::shared_ptr<TargetSet> set_;
};

TEST_F(TargetSetTest, StartsTheWorkersOfTheInitialConfig) {
  start(config({0, 1}));
  ASSERT_TRUE(connections_are({2, 2, 0}));
  const Snapshot s = snapshot();
  EXPECT_EQ(s.generation, 1u);
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.workers.size(), 4u);
  EXPECT_EQ(s.targets[0].connections_wanted, 2u);
  EXPECT_TRUE(rig_.run_until([&] { return snapshot().targets[1].connections_connected == 2; }));
}

TEST_F(TargetSetTest, ApplyReconcilesTheWorkersAndBumpsTheGeneration) {
  start(config({0, 1}));
  ASSERT_TRUE(connections_are({2, 2, 0}));
  LiveConfig next = config({0, 2}, 3);
  next.targets[0].connections = 1;  // its own count beats the default
  next.failback_interval = std::chrono::seconds(9);
  next.config_version = "v7";
  auto generation = set_->apply(next, std::nullopt);
  ASSERT_TRUE(generation.ok()) << generation.status();
  EXPECT_EQ(*generation, 2u);
  EXPECT_EQ(set_->generation(), 2u);
  EXPECT_EQ(set_->config(), next);
  EXPECT_TRUE(connections_are({1, 0, 3})) << "one to the kept target, none to the removed one";
  EXPECT_TRUE(rig_.run_until([&] { return set_->worker_count() == 4; }));
  const Snapshot s = snapshot();
  EXPECT_EQ(s.config_version, "v7");
  EXPECT_EQ(s.default_connections, 3u);
  EXPECT_EQ(s.failback_interval, std::chrono::seconds(9));
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets[0].connections_wanted, 1u);
  EXPECT_EQ(s.targets[1].connections_wanted, 3u);
}

TEST_F(TargetSetTest, ARefusedConfigChangesNothing) {
  start(config({0}));
  ASSERT_TRUE(connections_are({2, 0, 0}));
  const LiveConfig before = set_->config();
  std::vector<LiveConfig> bad(4, config({1}));
  bad[0].targets.clear();
  bad[1].targets.push_back(bad[1].targets[0]);
  bad[2].connections = 0;
  bad[3].failback_interval = std::chrono::milliseconds(1);
  for (const LiveConfig& c : bad) {
    auto refused = set_->apply(c, std::nullopt);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  }
  EXPECT_EQ(set_->generation(), 1u);
  EXPECT_EQ(set_->config(), before);
  EXPECT_TRUE(connections_are({2, 0, 0}));
  EXPECT_EQ(set_->worker_count(), 2u);
}

TEST_F(TargetSetTest, AStaleExpectedGenerationIsRefused) {
  start(config({0}));
  ASSERT_TRUE(set_->apply(config({0}, 1), 1u).ok());
  auto stale = set_->apply(config({1}), 1u);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stale.status().message()), HasSubstr("current generation 2"));
  EXPECT_EQ(set_->config().targets.size(), 1u);
  EXPECT_EQ(set_->config().targets[0].address, at(sink_.ports()[0]));
  auto current = set_->apply(config({1}), 2u);
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(*current, 3u);
}

TEST_F(TargetSetTest, ARemovedTargetsWorkersLeaveAndItsSeriesGo) {
  start(config({0, 1}, 1));
  ASSERT_TRUE(connections_are({1, 1, 0}));
  const std::string removed = at(sink_.ports()[0]).to_string();
  EXPECT_TRUE(any_series_for(removed));
  ASSERT_TRUE(set_->apply(config({1}, 1), std::nullopt).ok());
  EXPECT_TRUE(connections_are({0, 1, 0}));
  EXPECT_TRUE(rig_.run_until([&] { return set_->worker_count() == 1; }));
  EXPECT_FALSE(any_series_for(removed));
  const Snapshot s = snapshot();
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0].address, at(sink_.ports()[1]).to_string());
}

TEST_F(TargetSetTest, TotalsKeepWhatRemovedTargetsDelivered) {
  start(config({0, 1}, 2));
  ASSERT_TRUE(connections_are({2, 2, 0}));
  constexpr std::uint64_t kLines = 20'000;
  rig_.offer("totals", 0, kLines);
  ASSERT_TRUE(rig_.run_until([&] { return rig_.stats->totals().sent_lines == kLines; }));
  ASSERT_GT(sink_.lines(0), 0u) << "both targets took lines";
  ASSERT_GT(sink_.lines(1), 0u);

  ASSERT_TRUE(set_->apply(config({1}, 2), std::nullopt).ok());
  ASSERT_TRUE(rig_.run_until([&] { return set_->worker_count() == 2; }));
  const Snapshot s = snapshot();
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_LT(s.targets[0].sent_lines, kLines) << "the kept target delivered only its share";
  EXPECT_EQ(rig_.stats->totals().sent_lines, kLines) << "totals never go backwards";
  EXPECT_EQ(rig_.stats->totals().sent_bytes, kLines * 100);
  // Acknowledged by the sinks' kernels is not yet read by their thread: wait for that.
  EXPECT_TRUE(sink_.wait_until([&] { return sink_.total_lines() >= kLines; }, IoRig::kWait));
  EXPECT_EQ(sink_.verifier().report("totals", 1, kLines).ok, kLines);
}

TEST_F(TargetSetTest, FailbackForAnUnknownTargetIsRefused) {
  start(config({0}));
  auto refused = set_->trigger_failback(at(1));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("127.0.0.1:1"));
  EXPECT_TRUE(set_->trigger_failback(std::nullopt).ok());
  EXPECT_TRUE(set_->trigger_failback(at(sink_.ports()[0])).ok());
}

TEST_F(TargetSetTest, TheLastWorkerLeavingAClosedQueueEndsTheSet) {
  start(config({0, 1}, 1));
  ASSERT_TRUE(connections_are({1, 1, 0}));
  bool ended = false;
  set_->on_all_exited([&] { ended = true; });
  rig_.offer("closed", 0, 1000);
  rig_.queue->close();
  set_->wake_workers();
  ASSERT_TRUE(rig_.run_until([&] { return ended; }));
  EXPECT_EQ(set_->worker_count(), 0u);
  EXPECT_TRUE(rig_.queue->drained());
  EXPECT_TRUE(sink_.wait_for_total_lines(1000, IoRig::kWait));
  EXPECT_TRUE(sink_.verifier().report("closed", 1, 1000).exactly_once());
}

}  // namespace
}  // namespace jsontcplb
