#include "dataplane/buffered_histogram.h"

#include <algorithm>

namespace jsontcplb {

BufferedHistogram::BufferedHistogram(prometheus::Family<prometheus::Histogram>& family,
                                     std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      histogram_(family.Add({}, bounds_)),
      counts_(bounds_.size() + 1, 0.0) {}

void BufferedHistogram::observe(double value) {
  // Same rule as prometheus::Histogram: a value equal to a bound falls into that bucket (le).
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[static_cast<std::size_t>(bucket)] += 1;
  sum_ += value;
  pending_ = true;
}

void BufferedHistogram::flush() {
  if (!pending_) return;
  histogram_.ObserveMultiple(counts_, sum_);
  std::fill(counts_.begin(), counts_.end(), 0.0);
  sum_ = 0;
  pending_ = false;
}

}  // namespace jsontcplb
