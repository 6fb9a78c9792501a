#include "dataplane/worker.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <map>
#include <string>

#include "dataplane/target.h"
#include "tests/tools/sink.h"
#include "tests/unit/dataplane/io_rig.h"

namespace jsontcplb {
namespace {

using testing::IoRig;

// The dialer seam: a target is a name ("home.test") that leads to a loopback sink port, or is
// refused, as the test decides, and every dial is counted.
class FakeTargets {
 public:
  void route(const std::string& host, std::uint16_t port) { ports_[host] = port; }
  void refuse(const std::string& host) { ports_[host] = 0; }
  int dials(const std::string& host) const {
    auto it = dials_.find(host);
    return it == dials_.end() ? 0 : it->second;
  }

  Dialer dialer() {
    return [this](const TargetAddress& target)
               -> asio::awaitable<absl::StatusOr<std::shared_ptr<Upstream>>> {
      ++dials_[target.host];
      const std::uint16_t port = ports_[target.host];
      if (port == 0) co_return absl::UnavailableError("connect: Connection refused (fake)");
      // Named, not temporaries: GCC 12 mishandles temporaries inside a co_await expression.
      const TargetAddress loopback{"127.0.0.1", port};
      const Dialer dial = IoRig::loopback_dialer();
      auto connected = co_await dial(loopback);
      co_return connected;
    };
  }

 private:
  std::map<std::string, std::uint16_t> ports_;
  std::map<std::string, int> dials_;
};

// One worker whose home is "home.test", with "other.test" to fail over to; sink port 0 plays
// home and port 1 the other target.
class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest()
      : sink_([] {
          lbtest::SinkOptions o;
          o.ports = 2;
          return o;
        }()) {
    WorkerEnv env = rig_.env(fakes_.dialer());
    home_ = target("home.test");
    other_ = target("other.test");
    env.targets = {home_, other_};
    env.failback_interval = std::chrono::hours(1);  // only TriggerFailback brings it home
    env_ = std::make_shared<WorkerEnv>(std::move(env));
    fakes_.route("home.test", sink_.ports()[0]);
    fakes_.route("other.test", sink_.ports()[1]);
  }
  std::shared_ptr<Target> target(const std::string& host) {
    return std::make_shared<Target>(TargetAddress{host, 1}, rig_.stats->add_target(host + ":1"));
  }
  void start() {
    worker_ = std::make_shared<Worker>(rig_.io.get_executor(), env_, home_, 0);
    asio::co_spawn(rig_.io, Worker::run(worker_), [this](std::exception_ptr e) {
      EXPECT_FALSE(e) << "the worker threw";
      exited_ = true;
    });
  }
  bool connected_to(const std::shared_ptr<Target>& t) {
    return rig_.run_until([&] {
      return worker_->state() == WorkerState::kConnected && worker_->current_target() == t;
    });
  }
  // Offers `count` lines and waits until the targets acknowledged them all.
  bool deliver(const std::string& run, std::uint64_t first, std::uint64_t count) {
    const std::uint64_t before = rig_.stats->totals().sent_lines;
    rig_.offer(run, first, count);
    return rig_.run_until([&] { return rig_.stats->totals().sent_lines >= before + count; });
  }

  lbtest::Sink sink_;
  IoRig rig_;
  FakeTargets fakes_;
  std::shared_ptr<Target> home_, other_;
  std::shared_ptr<WorkerEnv> env_;
  std::shared_ptr<Worker> worker_;
  bool exited_ = false;
};

TEST_F(WorkerTest, ConnectsHomeAndDeliversThere) {
  start();
  ASSERT_TRUE(connected_to(home_));
  EXPECT_EQ(worker_->name(), "home.test:1#0");
  ASSERT_TRUE(deliver("home", 0, 1000));
  EXPECT_TRUE(sink_.wait_for_total_lines(1000, IoRig::kWait));
  EXPECT_EQ(sink_.lines(0), 1000u);
  EXPECT_EQ(rig_.queue->unacked_bytes(), 0u);
  EXPECT_EQ(worker_->unacked_bytes(), 0u);
}

TEST_F(WorkerTest, FailsOverWhenHomeRefusesAndFailsBackWhenAsked) {
  fakes_.refuse("home.test");
  start();
  ASSERT_TRUE(connected_to(other_)) << "refused at home, it fails over";
  EXPECT_GE(fakes_.dials("home.test"), 1);
  EXPECT_EQ(rig_.stats->totals().failovers, 1u);
  ASSERT_TRUE(deliver("away", 0, 1000));
  EXPECT_EQ(Stats::value(other_->counters.sent_lines), 1000u);

  fakes_.route("home.test", sink_.ports()[0]);
  const int home_dials = fakes_.dials("home.test");
  worker_->trigger_failback();
  ASSERT_TRUE(connected_to(home_));
  EXPECT_EQ(fakes_.dials("home.test"), home_dials + 1) << "one dial home, then the switch";
  EXPECT_EQ(rig_.stats->totals().failbacks, 1u);
  ASSERT_TRUE(deliver("back", 0, 1000));
  EXPECT_EQ(Stats::value(home_->counters.sent_lines), 1000u);
  EXPECT_TRUE(sink_.wait_until([&] { return sink_.connections(1) == 0; }, IoRig::kWait))
      << "the connection it left is closed once its lines are acknowledged";
}

TEST_F(WorkerTest, AFailedConnectionsLinesGoToTheNextTarget) {
  start();
  ASSERT_TRUE(connected_to(home_));
  ASSERT_TRUE(deliver("failover", 0, 2000));
  fakes_.refuse("home.test");  // it does not come back at once
  ASSERT_TRUE(sink_.close_port(0, /*abort=*/true));
  ASSERT_TRUE(connected_to(other_));
  EXPECT_EQ(rig_.stats->totals().reconnects, 1u);
  EXPECT_GE(home_->health.consecutive_failures(), 1);
  ASSERT_TRUE(deliver("failover", 2000, 2000));
  EXPECT_TRUE(sink_.wait_for_total_lines(4000, IoRig::kWait));
  const lbtest::Report report = sink_.verifier().report("failover", 1, 4000);
  EXPECT_TRUE(report.exactly_once()) << report.to_string();
  EXPECT_EQ(sink_.lines(0), 2000u);
  EXPECT_EQ(sink_.lines(1), 2000u);
}

TEST_F(WorkerTest, StoppingHandsBackWhatIsNotAcknowledgedAndExits) {
  start();
  ASSERT_TRUE(connected_to(home_));
  ASSERT_TRUE(deliver("stop", 0, 500));
  worker_->stop();
  EXPECT_EQ(worker_->state(), WorkerState::kStopping);
  ASSERT_TRUE(rig_.run_until([&] { return exited_; }));
  EXPECT_EQ(rig_.queue->unacked_bytes(), 0u);
  EXPECT_TRUE(rig_.queue->empty());
  EXPECT_TRUE(sink_.wait_until([&] { return sink_.connections(0) == 0; }, IoRig::kWait));
}

TEST_F(WorkerTest, FinishesOnceTheClosedQueueIsDrained) {
  start();
  ASSERT_TRUE(connected_to(home_));
  rig_.offer("drain", 0, 3000);
  rig_.queue->close();
  ASSERT_TRUE(rig_.run_until([&] { return exited_; }));
  EXPECT_TRUE(rig_.queue->drained());
  EXPECT_TRUE(sink_.wait_for_total_lines(3000, IoRig::kWait));
  EXPECT_TRUE(sink_.verifier().report("drain", 1, 3000).exactly_once());
}

TEST_F(WorkerTest, BothTargetsDownItKeepsTryingThemInTurn) {
  fakes_.refuse("home.test");
  fakes_.refuse("other.test");
  start();
  ASSERT_TRUE(rig_.run_until(
      [&] { return fakes_.dials("home.test") >= 2 && fakes_.dials("other.test") >= 2; }));
  EXPECT_EQ(worker_->state(), WorkerState::kBackoff);
  EXPECT_FALSE(home_->health.healthy());
  EXPECT_FALSE(other_->health.healthy());
  fakes_.route("other.test", sink_.ports()[1]);
  EXPECT_TRUE(connected_to(other_));
}

}  // namespace
}  // namespace jsontcplb
