#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/core/batch_queue.h"
#include "dataplane/wake_list.h"

namespace jsontcplb {

namespace asio = boost::asio;

/// Everything client sessions and workers share: the bounded queue of batches between them,
/// its admission (backpressure), the two wake lists (workers waiting for lines, clients
/// waiting for room), the totals of what workers wrote and targets have not acknowledged, and
/// the end of input during shutdown.
///
/// Lives on the data-plane thread. Only admit() and nearly_full() may be called from a reader
/// thread; wait_for_room() may start on one (it moves to the data-plane thread to wait).
class LineQueue {
 public:
  /// `capacity_bytes`: -queue-bytes. `read_bytes`: -read-buffer-bytes, what one client read
  /// may add, so waking clients for the room a pop made keeps the overshoot bounded.
  LineQueue(asio::io_context::executor_type data_plane, std::size_t capacity_bytes,
            std::size_t read_bytes);
  LineQueue(const LineQueue&) = delete;
  LineQueue& operator=(const LineQueue&) = delete;

  // --- any thread ---
  /// Counts a batch a session is about to hand over, before it reaches the queue, so sessions
  /// on other threads see the queue as full in time.
  void admit(std::size_t bytes) { admitted_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  /// Whether the queue plus the batches on their way to it reach the capacity.
  bool nearly_full() const {
    return admitted_bytes_.load(std::memory_order_relaxed) >= queue_.capacity_bytes();
  }
  /// Returns once the queue has room, or at once when `give_up` is set. Resumes on the caller's
  /// executor; waits on the data-plane thread. True when it waited: the caller was woken for
  /// room, and must queue a batch or hand the room on (hand_on_room()).
  asio::awaitable<bool> wait_for_room(const std::atomic<bool>& give_up);

  // --- data-plane thread ---
  asio::io_context::executor_type executor() const { return data_plane_; }
  /// Queues an admitted batch and wakes a worker.
  void push(Batch batch);
  /// Puts batches a failed connection did not deliver back at the head, in order.
  void requeue(std::vector<Batch> batches);
  /// Takes up to `max_bytes` (at least one batch), waking clients for the room it made.
  std::vector<Batch> pop(std::size_t max_bytes);
  /// A client woken for room that will not use it (it found nothing to read, or ended) wakes
  /// the next one waiting, if the room is still there. Otherwise, with no batch queued, no pop
  /// would come to wake the clients behind it.
  void hand_on_room() {
    if (!queue_.full()) clients_waiting_.notify(1);
  }
  /// Wakes every client waiting for room (they check why they wait again).
  void wake_clients() { clients_waiting_.notify_all(); }

  /// An idle worker waits here for lines (or `poll`, or its timer being cancelled).
  asio::awaitable<void> wait_for_lines(asio::steady_timer& timer,
                                       std::optional<std::chrono::steady_clock::duration> poll) {
    return idle_workers_.wait(timer, poll);
  }
  std::size_t idle_workers() const { return idle_workers_.size(); }
  /// Hands the next batch to the longest-idle worker.
  void wake_idle_worker() { idle_workers_.notify(1); }

  /// Workers report what they wrote (positive) and what got acknowledged or requeued (negative).
  void count_unacked(std::int64_t bytes, std::int64_t lines) {
    unacked_bytes_ += static_cast<std::uint64_t>(bytes);
    unacked_lines_ += static_cast<std::uint64_t>(lines);
  }
  std::uint64_t unacked_bytes() const { return unacked_bytes_; }
  std::uint64_t unacked_lines() const { return unacked_lines_; }
  /// Acknowledged and kept until targets can no longer hold them unread (they count in the
  /// memory bound, not in what is still to deliver).
  void count_retained(std::int64_t bytes) { retained_bytes_ += static_cast<std::uint64_t>(bytes); }
  std::uint64_t retained_bytes() const { return retained_bytes_; }

  /// No client will add lines any more (shutdown, every client gone): wakes idle workers.
  void close();
  bool closed() const { return closed_; }
  /// Connections being closed that may still queue lines again.
  void count_settling(int n) { settling_ += n; }
  /// True when nothing is queued or unacknowledged anywhere, and no connection being closed
  /// may still queue lines again.
  bool all_delivered() const { return queue_.empty() && unacked_bytes_ == 0 && settling_ == 0; }
  /// Closed and all delivered: workers are done.
  bool drained() const { return closed_ && all_delivered(); }

  bool empty() const { return queue_.empty(); }
  bool full() const { return queue_.full(); }
  std::size_t bytes() const { return queue_.bytes(); }
  std::uint64_t lines() const { return queue_.lines(); }
  std::size_t capacity_bytes() const { return queue_.capacity_bytes(); }

 private:
  asio::io_context::executor_type data_plane_;
  BatchQueue queue_;
  std::size_t read_bytes_;
  std::atomic<std::size_t> admitted_bytes_ = 0;  // queued + handed over, not yet queued
  WakeList idle_workers_;
  WakeList clients_waiting_;
  std::uint64_t unacked_bytes_ = 0;
  std::uint64_t unacked_lines_ = 0;
  std::uint64_t retained_bytes_ = 0;
  int settling_ = 0;
  bool closed_ = false;
};

}  // namespace jsontcplb
