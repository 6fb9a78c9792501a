#include "dataplane/line_queue.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jsontcplb {
namespace {

std::size_t total_bytes(const std::vector<Batch>& batches) {
  std::size_t bytes = 0;
  for (const Batch& b : batches) bytes += b.size();
  return bytes;
}

}  // namespace

LineQueue::LineQueue(asio::io_context::executor_type data_plane, std::size_t capacity_bytes,
                     std::size_t read_bytes)
    : data_plane_(std::move(data_plane)), queue_(capacity_bytes), read_bytes_(read_bytes) {}

void LineQueue::push(Batch batch) {
  queue_.push_back(std::move(batch));
  idle_workers_.notify(1);
}

void LineQueue::requeue(std::vector<Batch> batches) {
  const std::size_t n = batches.size();
  admitted_bytes_.fetch_add(total_bytes(batches), std::memory_order_relaxed);
  queue_.push_front(std::move(batches));
  idle_workers_.notify(n);
}

std::vector<Batch> LineQueue::pop(std::size_t max_bytes) {
  std::vector<Batch> batches = queue_.pop(max_bytes);
  admitted_bytes_.fetch_sub(total_bytes(batches), std::memory_order_relaxed);
  if (clients_waiting_.size() > 0 && !queue_.full()) {
    // Wake only as many readers as the free room can take, so the overshoot stays bounded.
    const std::size_t room = queue_.capacity_bytes() - queue_.bytes();
    clients_waiting_.notify(room / read_bytes_ + 1);
  }
  return batches;
}

asio::awaitable<bool> LineQueue::wait_for_room(const std::atomic<bool>& give_up) {
  if (!nearly_full() || give_up) co_return false;
  // The queue and its waiters live on the data-plane thread: a session on a reader thread goes
  // there to wait, and comes back.
  const bool away = !data_plane_.running_in_this_thread();
  if (away) co_await asio::post(asio::bind_executor(data_plane_, asio::use_awaitable));
  {
    asio::steady_timer timer(data_plane_);  // created and destroyed on the data-plane thread
    while (queue_.full() && !give_up) co_await clients_waiting_.wait(timer, std::nullopt);
  }
  if (away) co_await asio::post(asio::use_awaitable);  // back to the session's own executor
  co_return true;
}

void LineQueue::close() {
  closed_ = true;
  idle_workers_.notify_all();
}

}  // namespace jsontcplb
