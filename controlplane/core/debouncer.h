#pragma once

#include <chrono>
#include <optional>

namespace jsontcplb::controlplane {

/// Turns a burst of events (file edits, DNS changes) into one action: the action is due once
/// no event came for `quiet`, and at the latest `max_delay` after the burst's first event, so a
/// steady stream of events cannot postpone it for ever.
class Debouncer {
 public:
  using Clock = std::chrono::steady_clock;

  Debouncer(Clock::duration quiet, Clock::duration max_delay)
      : quiet_(quiet), max_delay_(max_delay) {}

  /// An event at `now`; returns when the action is due.
  Clock::time_point touch(Clock::time_point now);
  /// When the action is due; nothing when no event is waiting.
  std::optional<Clock::time_point> due() const { return due_; }
  /// The action ran: the next event starts a new burst.
  void fired() {
    first_.reset();
    due_.reset();
  }

 private:
  Clock::duration quiet_;
  Clock::duration max_delay_;
  std::optional<Clock::time_point> first_;
  std::optional<Clock::time_point> due_;
};

}  // namespace jsontcplb::controlplane
