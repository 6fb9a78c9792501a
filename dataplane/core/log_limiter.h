#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace jsontcplb {

/// Keeps events that can come in floods (clients connecting and closing, say) from flooding
/// the log: in each window the first `burst` events are logged one by one and the rest only
/// counted; the count is reported once the window is over ("N more ... in the last 10s").
/// Thread-safe: sessions on every reader thread report through one limiter.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  /// `what` names the events in the summary, e.g. "client connection events".
  LogLimiter(std::string what, std::uint64_t burst, Clock::duration window);

  /// Whether this event may be logged on its own. When it starts a new window and the last one
  /// suppressed events, `summary` gets the line that says so (log it first).
  bool allow(Clock::time_point now, std::optional<std::string>& summary);
  /// The summary of a window that is over and suppressed events, if any (a periodic timer calls
  /// this so a flood's last window is reported even if nothing follows it).
  std::optional<std::string> flush(Clock::time_point now);

 private:
  std::optional<std::string> roll(Clock::time_point now);  // under mutex_

  const std::string what_;
  const std::uint64_t burst_;
  const Clock::duration window_;
  std::mutex mutex_;
  Clock::time_point window_start_{};
  std::uint64_t in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace jsontcplb
