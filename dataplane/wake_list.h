#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <optional>

namespace jsontcplb {

namespace asio = boost::asio;

/// Coroutines waiting for a condition (queue has data, queue has room). A waiter sleeps on its
/// own timer; `notify` cancels the timers of the longest waiting ones. Anyone else may also
/// cancel a waiter's timer to wake it for another reason. Single-threaded: callers check their
/// condition right before `wait`, so no wakeup is lost.
class WakeList {
 public:
  /// Returns when notified, when `timeout` passes, or when `timer` is cancelled by someone else.
  asio::awaitable<void> wait(asio::steady_timer& timer,
                             std::optional<std::chrono::steady_clock::duration> timeout);
  /// Wakes up to `n` waiters, oldest first. Returns how many were woken.
  std::size_t notify(std::size_t n = 1);
  void notify_all() { notify(waiters_.size()); }
  std::size_t size() const { return waiters_.size(); }

 private:
  struct Waiter {
    asio::steady_timer* timer;
    bool notified = false;
  };
  std::list<Waiter*> waiters_;
};

}  // namespace jsontcplb
