#include "dataplane/line_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace jsontcplb {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kCapacity = 1000;
constexpr std::size_t kReadBytes = 100;

Batch batch_of(std::size_t bytes) {
  std::string text(bytes, 'x');
  text.back() = '\n';
  return Batch(text, 1);
}

// A queue on an io_context that the test runs on its own thread, in bounded steps.
class LineQueueTest : public ::testing::Test {
 protected:
  // Runs the io_context until `done` holds; false after `timeout`.
  bool run_until(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      io_.run_for(milliseconds(2));
    }
    return true;
  }
  // Runs whatever is ready now (a few rounds), for "nothing happens" checks.
  void settle() {
    for (int i = 0; i < 5; ++i) io_.poll();
  }
  // The admitted and queued batch a session would deliver.
  void deliver(std::size_t bytes) {
    queue_.admit(bytes);
    queue_.push(batch_of(bytes));
  }
  // Starts a client that waits for room; `done` counts it once it may read again, `woken_` if
  // it had to wait.
  void client_waits_for_room(std::atomic<int>& done) {
    asio::co_spawn(
        io_,
        [this, &done]() -> asio::awaitable<void> {
          if (co_await queue_.wait_for_room(give_up_)) ++woken_;
          ++done;
        },
        asio::detached);
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  LineQueue queue_{io_.get_executor(), kCapacity, kReadBytes};
  std::atomic<bool> give_up_{false};
  std::atomic<int> woken_{0};
};

TEST_F(LineQueueTest, AdmittedBytesCountAgainstTheRoomBeforeTheyArrive) {
  EXPECT_FALSE(queue_.nearly_full());
  queue_.admit(kCapacity);  // handed over by a session, still on its way
  EXPECT_TRUE(queue_.nearly_full());
  EXPECT_TRUE(queue_.empty());
  EXPECT_FALSE(queue_.full());
  queue_.push(batch_of(kCapacity));
  EXPECT_TRUE(queue_.full());
  EXPECT_EQ(queue_.pop(kCapacity).size(), 1u);
  EXPECT_FALSE(queue_.nearly_full());
  EXPECT_TRUE(queue_.empty());
}

TEST_F(LineQueueTest, APushWakesOneIdleWorker) {
  asio::steady_timer a(io_), b(io_);
  int woken = 0;
  for (asio::steady_timer* t : {&a, &b}) {
    asio::co_spawn(
        io_,
        [this, t, &woken]() -> asio::awaitable<void> {
          co_await queue_.wait_for_lines(*t, std::nullopt);
          ++woken;
        },
        asio::detached);
  }
  ASSERT_TRUE(run_until([&] { return queue_.idle_workers() == 2; }));
  deliver(10);
  ASSERT_TRUE(run_until([&] { return woken == 1; }));
  settle();
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(queue_.idle_workers(), 1u);
  queue_.wake_idle_worker();
  EXPECT_TRUE(run_until([&] { return woken == 2; }));
}

TEST_F(LineQueueTest, AFullQueueHoldsClientsUntilAPopMakesRoom) {
  for (int i = 0; i < 10; ++i) deliver(kReadBytes);
  ASSERT_TRUE(queue_.full());
  std::atomic<int> done{0};
  client_waits_for_room(done);
  settle();
  EXPECT_EQ(done, 0) << "a full queue must stop the client";
  queue_.pop(kReadBytes);
  EXPECT_TRUE(run_until([&] { return done == 1; }));
  EXPECT_EQ(woken_, 1) << "it says it was woken for room";
}

TEST_F(LineQueueTest, ClientsWithRoomDoNotWait) {
  deliver(kReadBytes);
  std::atomic<int> done{0};
  client_waits_for_room(done);
  EXPECT_TRUE(run_until([&] { return done == 1; }));
  EXPECT_EQ(woken_, 0) << "it holds no room to hand on";
}

TEST_F(LineQueueTest, RoomAWokenClientDoesNotUseIsHandedOn) {
  deliver(kReadBytes / 2);
  for (int i = 0; i < 9; ++i) deliver(kReadBytes);
  deliver(kReadBytes / 2);
  ASSERT_TRUE(queue_.full());
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) client_waits_for_room(done);
  settle();
  ASSERT_EQ(queue_.pop(1).size(), 1u);  // half a read of room: one client
  ASSERT_TRUE(run_until([&] { return done == 1; }));
  // It ends, or finds nothing to read: the next one gets the room.
  queue_.hand_on_room();
  ASSERT_TRUE(run_until([&] { return done == 2; }));
  // That one fills the queue again: nothing to hand on.
  deliver(kReadBytes / 2);
  queue_.hand_on_room();
  settle();
  EXPECT_EQ(done, 2);
  EXPECT_EQ(woken_, 2);
}

TEST_F(LineQueueTest, APopWakesOnlyAsManyClientsAsItsRoomTakes) {
  for (int i = 0; i < 10; ++i) deliver(kReadBytes);
  std::atomic<int> done{0};
  for (int i = 0; i < 8; ++i) client_waits_for_room(done);
  settle();
  ASSERT_EQ(done, 0);
  // 200 bytes of room: two reads' worth, plus one, so the overshoot stays bounded.
  ASSERT_EQ(queue_.pop(2 * kReadBytes).size(), 2u);
  ASSERT_TRUE(run_until([&] { return done == 3; }));
  settle();
  EXPECT_EQ(done, 3);
  queue_.pop(kCapacity);
  EXPECT_TRUE(run_until([&] { return done == 8; }));
}

TEST_F(LineQueueTest, GivingUpEndsTheWaitOfAFullQueue) {
  for (int i = 0; i < 10; ++i) deliver(kReadBytes);
  std::atomic<int> done{0};
  client_waits_for_room(done);
  client_waits_for_room(done);
  settle();
  ASSERT_EQ(done, 0);
  give_up_ = true;  // the drain timeout cut the clients off
  queue_.wake_clients();
  EXPECT_TRUE(run_until([&] { return done == 2; }));
  EXPECT_TRUE(queue_.full());
}

TEST_F(LineQueueTest, RequeuedBatchesGoFirstAndTakeRoom) {
  deliver(10);
  std::vector<Batch> back;
  back.push_back(batch_of(kCapacity));
  queue_.requeue(std::move(back));
  EXPECT_TRUE(queue_.nearly_full());
  EXPECT_TRUE(queue_.full());
  auto first = queue_.pop(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].size(), kCapacity) << "the requeued batch jumps the line";
  EXPECT_EQ(queue_.bytes(), 10u);
}

TEST_F(LineQueueTest, DrainedOnceClosedAndEverythingAcknowledged) {
  asio::steady_timer idle(io_);
  bool woken = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        co_await queue_.wait_for_lines(idle, std::nullopt);
        woken = true;
      },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return queue_.idle_workers() == 1; }));
  queue_.count_unacked(50, 2);  // a worker wrote 50 bytes
  EXPECT_FALSE(queue_.all_delivered());
  queue_.close();
  EXPECT_TRUE(run_until([&] { return woken; })) << "closing wakes idle workers";
  EXPECT_TRUE(queue_.closed());
  EXPECT_FALSE(queue_.drained());
  queue_.count_unacked(-50, -2);  // acknowledged
  EXPECT_EQ(queue_.unacked_bytes(), 0u);
  EXPECT_EQ(queue_.unacked_lines(), 0u);
  EXPECT_TRUE(queue_.drained());
}

TEST_F(LineQueueTest, AClientOnAReaderThreadComesBackToItAfterWaiting) {
  for (int i = 0; i < 10; ++i) deliver(kReadBytes);
  asio::io_context reader(1);
  auto reader_work = asio::make_work_guard(reader);
  std::thread thread([&] { reader.run(); });
  const std::thread::id reader_id = thread.get_id();
  std::atomic<bool> done{false};
  std::thread::id before, after;
  asio::co_spawn(
      reader,
      [&]() -> asio::awaitable<void> {
        before = std::this_thread::get_id();
        co_await queue_.wait_for_room(give_up_);  // waits on the data-plane thread (this one)
        after = std::this_thread::get_id();
        done = true;
      },
      asio::detached);
  settle();
  EXPECT_FALSE(done) << "a full queue must stop the client";
  queue_.pop(kCapacity);
  const bool resumed = run_until([&] { return done.load(); });
  reader_work.reset();
  thread.join();
  ASSERT_TRUE(resumed);
  EXPECT_EQ(before, reader_id);
  EXPECT_EQ(after, reader_id) << "the session resumes on its own thread";
}

}  // namespace
}  // namespace jsontcplb
