#include "dataplane/wake_list.h"

#include <boost/asio/bind_executor.hpp>

#include "dataplane/coro.h"

namespace jsontcplb {

asio::awaitable<void> WakeList::wait(asio::steady_timer& timer,
                                     std::optional<std::chrono::steady_clock::duration> timeout) {
  if (timeout) {
    timer.expires_after(*timeout);
  } else {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  Waiter waiter{&timer};
  auto it = waiters_.insert(waiters_.end(), &waiter);
  // Resume on the timer's executor (the data-plane thread): the list is only touched there,
  // also by a waiter whose coroutine belongs to a reader thread.
  co_await timer.async_wait(asio::bind_executor(timer.get_executor(), kUseAwaitable));
  if (!waiter.notified) waiters_.erase(it);
}

std::size_t WakeList::notify(std::size_t n) {
  std::size_t woken = 0;
  while (woken < n && !waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->notified = true;
    w->timer->cancel();
    ++woken;
  }
  return woken;
}

}  // namespace jsontcplb
