#include "dataplane/core/backoff.h"

#include <algorithm>

namespace jsontcplb {

Backoff::Backoff(Duration initial, Duration max, std::uint64_t seed)
    : initial_(initial), max_(max), rng_(seed) {}

Backoff::Duration Backoff::next() {
  // initial * 2^attempts, saturating at max without overflowing.
  Duration cap = initial_;
  for (int i = 0; i < attempts_ && cap < max_; ++i) cap *= 2;
  cap = std::min(cap, max_);
  ++attempts_;
  std::uniform_int_distribution<Duration::rep> jitter(cap.count() / 2, cap.count());
  return Duration(jitter(rng_));
}

}  // namespace jsontcplb
