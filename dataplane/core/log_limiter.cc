#include "dataplane/core/log_limiter.h"

#include "dataplane/core/str_cat.h"
#include "dataplane/core/units.h"

namespace jsontcplb {

LogLimiter::LogLimiter(std::string what, std::uint64_t burst, Clock::duration window)
    : what_(std::move(what)), burst_(burst), window_(window) {}

std::optional<std::string> LogLimiter::roll(Clock::time_point now) {
  if (now - window_start_ < window_) return std::nullopt;
  std::optional<std::string> summary;
  if (suppressed_ > 0) {
    summary = str_cat(
        suppressed_, " more ", what_, " in the last ",
        format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(now - window_start_)),
        " were not logged one by one (", burst_, " per ",
        format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(window_)),
        " are; -log-level debug logs all)");
  }
  window_start_ = now;
  in_window_ = 0;
  suppressed_ = 0;
  return summary;
}

bool LogLimiter::allow(Clock::time_point now, std::optional<std::string>& summary) {
  std::lock_guard lock(mutex_);
  summary = roll(now);
  if (in_window_ < burst_) {
    ++in_window_;
    return true;
  }
  ++suppressed_;
  return false;
}

std::optional<std::string> LogLimiter::flush(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (suppressed_ == 0) return std::nullopt;
  return roll(now);
}

}  // namespace jsontcplb
