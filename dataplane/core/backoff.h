#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace jsontcplb {

/// Exponential backoff with jitter for reconnects: the n-th delay is drawn uniformly from
/// [cap/2, cap] where cap = min(max, initial * 2^n). Half the delay is always kept so a dead
/// target is not hammered; the random half keeps many workers from dialing in lock step.
class Backoff {
 public:
  using Duration = std::chrono::milliseconds;

  Backoff(Duration initial, Duration max, std::uint64_t seed = std::random_device{}());

  /// The delay before the next attempt; grows with each call until `reset()`.
  Duration next();
  /// Called after a success.
  void reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  Duration initial_;
  Duration max_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace jsontcplb
